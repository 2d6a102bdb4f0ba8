"""The published JSON Schema is current, round-trips hold, and the Mermaid graph is complete."""

from __future__ import annotations

import json

import pytest

from chalicelib.core import plain
from chalicelib.core.funnel import STEP_KINDS, Funnel, funnel_json_schema
from chalicelib.core.graph import to_mermaid

from .conftest import FUNNELS, load

EXAMPLES = sorted(p.stem for p in FUNNELS.rglob("*.yaml") if not p.name.endswith(".story.yaml"))


def test_checked_in_schema_is_current() -> None:
    on_disk = json.loads((FUNNELS / "funnel.schema.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(funnel_json_schema())), (
        "run: autofunnel schema -o funnels/funnel.schema.json"
    )


def test_schema_lists_every_step_kind() -> None:
    schema = funnel_json_schema()
    mapping = schema["properties"]["steps"]["items"]["discriminator"]["mapping"]
    assert set(mapping) == set(STEP_KINDS)


@pytest.mark.parametrize("name", EXAMPLES)
def test_to_dict_is_json_safe_and_round_trips(name: str) -> None:
    funnel = load(name)
    data = json.loads(json.dumps(funnel.to_dict()))
    again = Funnel.from_dict(data)
    assert again == funnel
    assert again.to_dict() == data


@pytest.mark.parametrize("name", EXAMPLES)
def test_stored_funnels_load_without_pydantic_as_pydantic_validates_them(name: str) -> None:
    """One definition, two readers: the worker's plain loader and the validator agree."""
    data = json.loads(json.dumps(load(name).to_dict()))
    validated = plain.adapter(Funnel).validate_python(data)
    assert Funnel.from_dict(data) == validated
    assert (
        validated.to_dict()
        == data
        == plain.adapter(Funnel).dump_python(
            validated, mode="json", by_alias=True, exclude_none=True
        )
    )


@pytest.mark.parametrize("name", EXAMPLES)
def test_graph_has_every_step_and_edge(name: str) -> None:
    funnel = load(name)
    chart = to_mermaid(funnel)
    assert chart.startswith("flowchart TD\n")
    for step in funnel.steps:
        assert f"s_{step.id}" in chart


def test_graph_labels_branches_and_timeouts() -> None:
    chart = to_mermaid(load("opened_or_popup"))
    assert "s_opened_a -- met --> s_message_b" in chart
    assert "s_opened_a -- timeout 2d --> s_popup" in chart
    chart = to_mermaid(load("rfm_winback"))
    assert "s_ab -- discount 45% --> s_by_segment" in chart
    assert "s_ab -- holdout 10% --> done" in chart
