"""Every story file under funnels/stories runs through the simulator and meets its `expect:`."""

from __future__ import annotations

from pathlib import Path

import pytest

from autofunnel.funnel_commands import load_funnels
from chalicelib.core.simulator import check, simulate
from chalicelib.core.story import parse_story

from .conftest import FUNNELS

STORIES = sorted((FUNNELS / "stories").glob("*.story.yaml"))


def run(path: Path):
    story = parse_story(path.read_text(encoding="utf-8"), str(path))
    assert story.funnel, f"{path.name} names no funnel"
    funnels, problems = load_funnels([path.parent / story.funnel])
    assert not problems, problems
    return story, simulate(funnels, story)


@pytest.mark.parametrize("path", STORIES, ids=lambda p: p.name.removesuffix(".story.yaml"))
def test_story_meets_expectations(path: Path) -> None:
    story, result = run(path)
    assert story.expect.get("sends") is not None, "a story must state its exact sends"
    assert check(story, result) == []
