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


def test_every_example_funnel_has_a_converting_and_a_running_to_the_end_story() -> None:
    funnel_files = [p for p in FUNNELS.rglob("*.yaml") if not p.name.endswith(".story.yaml")]
    assert len(funnel_files) >= 7
    seen: dict[str, set[str]] = {}
    for path in STORIES:
        _, result = run(path)
        for state in result.enrollments:
            seen.setdefault(state.funnel, set()).add(state.status)
    for path in funnel_files:
        statuses = seen.get(path.stem, set())
        assert "converted" in statuses, f"{path.stem}: no story converts"
        assert statuses & {"completed", "exited"}, f"{path.stem}: no story runs to the end"


def test_every_example_funnel_validates_with_the_cli() -> None:
    from click.testing import CliRunner

    from autofunnel.funnel_commands import validate

    result = CliRunner().invoke(validate, [str(FUNNELS), *map(str, STORIES)])
    assert result.exit_code == 0, result.output
    assert "11 funnel(s)" in result.output


def test_validate_flags_a_send_that_reaches_nothing_unless_the_story_says_so(tmp_path) -> None:
    from click.testing import CliRunner

    from autofunnel.funnel_commands import validate

    acknowledged = (FUNNELS / "stories" / "opened_or_popup.never_on_site.story.yaml").read_text()
    silent = acknowledged.replace("  unreachable: [popup]", "  # nothing said")
    silent = silent.replace("funnel: ../", f"funnel: {FUNNELS}/")
    story = tmp_path / "popup.story.yaml"
    story.write_text(silent)
    result = CliRunner().invoke(validate, [str(story)])
    assert result.exit_code == 1
    assert "reach nothing" in result.output and "+2d popup" in result.output
