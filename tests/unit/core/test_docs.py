"""The complete funnel and story examples in docs/funnels.md stay valid."""

from __future__ import annotations

import re

from chalicelib.core.funnel import STEP_KINDS
from chalicelib.core.simulator import simulate
from chalicelib.core.story import parse_story
from chalicelib.core.validate import parse_funnel

from .conftest import ROOT, load

DOC = (ROOT / "docs" / "funnels.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC, re.S)


def test_complete_funnel_examples_validate() -> None:
    funnels = [b for b in BLOCKS if re.search(r"^name: ", b, re.M) and "\nsteps:" in b]
    assert funnels
    for text in funnels:
        parse_funnel(text, "docs/funnels.md")


def test_story_example_parses_and_runs() -> None:
    (text,) = [b for b in BLOCKS if "\ninputs:" in b]
    story = parse_story(text, "docs/funnels.md")
    result = simulate([load("abandoned_cart")], story)
    assert result.status() == "converted"


def test_every_step_kind_has_an_example() -> None:
    for kind in STEP_KINDS:
        assert f"### {kind}\n" in DOC
        assert f"kind: {kind}" in DOC
