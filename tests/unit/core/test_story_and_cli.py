"""Story file parsing and the CLI verbs end to end."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from autofunnel.funnel_commands import graph, schema, simulate, validate
from chalicelib.core.problems import FunnelValidationError
from chalicelib.core.story import StoryInput, parse_item, parse_story

from .conftest import FUNNELS

STORY = FUNNELS / "stories" / "abandoned_cart.converts.story.yaml"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("+2h: opened m1", StoryInput(timedelta(hours=2), "opened", "m1")),
        ({"+2h": "opened m1"}, StoryInput(timedelta(hours=2), "opened", "m1")),
        ({0: "event go"}, StoryInput(timedelta(0), "event", "go")),
        (
            "+3d: event order_completed {total: 120}",
            StoryInput(timedelta(days=3), "event", "order_completed", {"total": 120}),
        ),
        (
            {"+3d": {"event": "order_completed", "properties": {"total": 1}}},
            StoryInput(timedelta(days=3), "event", "order_completed", {"total": 1}),
        ),
        (
            {"+1h": {"set": {"plan": "pro"}}},
            StoryInput(timedelta(hours=1), "set", "", {"plan": "pro"}),
        ),
        (
            {"+1h": {"opened": "lead_magnet/guide"}},
            StoryInput(timedelta(hours=1), "opened", "lead_magnet/guide"),
        ),
        ("-2d: event order_completed", StoryInput(timedelta(days=-2), "event", "order_completed")),
    ],
)
def test_story_items(item: object, expected: StoryInput) -> None:
    assert parse_item(item) == expected


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("+1h: dance m1", "unknown command 'dance'"),
        ("+1h: event x {total:1}", "space after the colon"),
        ("+1h opened m1", "OFFSET: command"),
        ("+1h: opened", "needs an argument"),
        ("soon: opened m1", "bad duration"),
    ],
)
def test_bad_story_items(item: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_item(item)


def test_story_errors_carry_lines() -> None:
    text = "inputs:\n  - +0: event go\n  - +1h: dance\nbogus: 1\n"
    with pytest.raises(FunnelValidationError) as info:
        parse_story(text, "s.yaml")
    assert [str(p) for p in info.value.problems] == [
        "s.yaml:3: inputs[1]: unknown command 'dance' (known: delivered, opened, clicked, "
        "bounced, replied, unsubscribed, failed, shown, dismissed, submitted, expired, "
        "event, set, unset, tag, untag, segment, leave_segment, rfm, link, optout, enroll)",
        "s.yaml:4: bogus: unknown field 'bogus'",
    ]


def test_cli_validate_reports_problems_and_exit_code(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntrigger: {event: go}\nsteps:\n  - {id: a, kind: sned}\n")
    result = CliRunner().invoke(validate, [str(tmp_path)])
    assert result.exit_code == 1
    assert f"{bad}:4: steps[0]: unknown step kind 'sned'" in result.output


def test_cli_simulate_table_json_and_check() -> None:
    runner = CliRunner()
    table = runner.invoke(simulate, ["--story", str(STORY)])
    assert table.exit_code == 0, table.output
    assert "Anna, your cart is waiting" in table.output
    assert "abandoned_cart: converted" in table.output
    lines = runner.invoke(
        simulate, [str(FUNNELS / "abandoned_cart.yaml"), "--story", str(STORY), "--json"]
    ).output.splitlines()
    rows = [json.loads(line) for line in lines]
    sends = [r for r in rows if r["kind"] == "send"]
    assert [(r["offset"], r["step"], r["channel"]) for r in sends] == [
        ("+30m", "reminder_1", "email")
    ]
    wrong = runner.invoke(
        simulate, [str(FUNNELS / "welcome_chain.yaml"), "--story", str(STORY), "--check"]
    )
    assert wrong.exit_code == 1
    assert "EXPECTATION FAILED" in wrong.output


def test_cli_graph_and_schema(tmp_path) -> None:
    out = CliRunner().invoke(graph, [str(FUNNELS / "read_no_click.yaml")])
    assert out.exit_code == 0 and out.output.startswith("flowchart TD")
    target = tmp_path / "s.json"
    assert CliRunner().invoke(schema, ["-o", str(target)]).exit_code == 0
    assert json.loads(target.read_text())["title"] == "Autofunnel funnel"
