"""A committed step's figures travel on its enrollment and are counted off the enrollments' stream
(chalicelib.analytics.step_tallies): each step counts once, whatever else writes the enrollment
(a merge moving it, an erasure), however often the stream delivers a batch (again whole, or
bisected), and wherever a kill stops the workers.

The kill is a BaseException raised at the botocore layer before the N-th DynamoDB call
(tests/integration/paging/faults.py): the local streams keep the batch to deliver again, like
an event source mapping. Figures are differences of the shared counters, as in the worker's kill
test, and must equal a clean run's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from autofunnel.timetravel import Stack
from chalicelib import wiring
from chalicelib.analytics import counters, keys
from chalicelib.analytics.fold import Ledger
from chalicelib.analytics.tally import Tally
from chalicelib.config import Settings
from chalicelib.eventlog import local
from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import VERIFIED, Entry, contact_subject
from chalicelib.identity.erase import erase
from chalicelib.identity.merge import merge
from chalicelib.runtime.dispatch import STUCK_AFTER
from chalicelib.runtime.runner import SWEEP_GRACE
from chalicelib.storage.models import Enrollment
from tests.integration.paging.conftest import dynamodb_calls  # noqa: F401 (fixture)
from tests.integration.paging.faults import CallCounter, CountingProvider, Killed

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: no quiet hours
TWO_STEPS = """
name: two_steps
trigger: {event: signed_up}
templates:
  hi: {email: {subject: "Hello", text: "Welcome aboard"}}
steps:
  - {id: m1, kind: send, channel: email, template: hi}
  - {id: w1, kind: wait, duration: 1h}
  - {id: m2, kind: send, channel: email, template: hi}
"""
SCOPE = keys.funnel_scope("two_steps", 1)
TEMPLATE_SENT = keys.template_metric("two_steps", "hi", "email", "sent")


def build(settings: Settings) -> Stack:
    stack = Stack.build(START, settings=settings, channels={"email": CountingProvider()})
    stack.publish("two_steps.yaml", TWO_STEPS)
    return stack


def figures() -> dict[str, Decimal]:
    found = {f"{k}": Decimal(str(v)) for k, v in counters.read(SCOPE).items()}
    templates = counters.read(keys.TEMPLATES_SCOPE)
    found["template sent"] = Decimal(str(templates.get(TEMPLATE_SENT, 0)))
    return found


def delta(before: Mapping[str, Decimal], after: Mapping[str, Decimal]) -> dict[str, Decimal]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def journey(stack: Stack, contact_ids: list[str]) -> None:
    stack.clock.now = START
    for contact_id in contact_ids:
        stack.contact(contact_id, email=f"{contact_id}@example.com")
        stack.event(contact_id, "signed_up")
    stack.advance(timedelta(hours=2))


def test_a_replaced_tally_folds_the_difference(settings: Settings) -> None:
    """The fold's side of the contract: a tally put again under its name (a redelivered or
    bisected batch) counts what it says now, not both."""
    stack = build(settings)
    ledger = Ledger()
    whole, half = Tally(), Tally()
    whole.add(SCOPE, "entered", 5)
    whole.add(SCOPE, "revenue", Decimal("10.5"))
    half.add(SCOPE, "entered", 2)
    ledger.put("steps:replaced", whole, START)
    stack.drain()
    assert counters.read(SCOPE) == {"entered": 5, "revenue": 10.5}
    ledger.put("steps:replaced", half, START)
    stack.drain()
    assert counters.read(SCOPE) == {"entered": 2, "revenue": 0}
    ledger.put("steps:replaced", Tally(), START, empty_too=True)
    stack.drain()
    assert counters.read(SCOPE) == {"entered": 0, "revenue": 0}


def test_each_step_counts_once_through_a_merge_and_an_erasure(settings: Settings) -> None:
    stack = build(settings)
    before = figures()
    journey(stack, ["clean"])
    clean = delta(before, figures())
    assert clean["entered"] == 1
    assert clean["step#m1#sent"] == clean["step#m2#sent"] == 1
    assert clean["completed"] == 1 and clean["template sent"] == 2

    before = figures()
    stack.clock.now = START
    stack.contact("ann", email="ann@example.com")
    stack.contact("bob", email="bob@example.com")
    stack.event("ann", "signed_up")
    merge("bob", "ann", stack.clock())  # ann's enrollment moves to bob: a copy and a delete
    stack.drain()
    (moved,) = list(Enrollment.query("bob"))
    assert moved.figures is None  # counted when its commit wrote them
    stack.advance(timedelta(hours=2))  # its second step commits under bob
    assert delta(before, figures()) == clean
    erase("bob")
    stack.drain()
    assert delta(before, figures()) == clean


class Batches:
    """Every batch the enrollments' stream hands to its worker, to deliver again by hand."""

    def __init__(self, stack: Stack) -> None:
        self.seen: list[list[dict[str, Any]]] = []
        (stream,) = [s for s in stack.app.streams.streams if s.table.endswith("-enrollments")]
        handler = stream.handler

        def kept(event: Any, context: Any) -> Any:
            self.seen.append(list(event["Records"]))
            return handler(event, context)

        stream.handler = kept


def bisections(size: int) -> list[list[slice]]:
    """Histories of one batch of `size` records after its put landed and its invocation died:
    delivered again whole; bisected at each point, the halves in either order; and bisected
    again and again down to single records (each failed attempt's put having landed too)."""
    histories = [[slice(0, size)]]
    for cut in range(1, size):
        histories.append([slice(0, size), slice(0, cut), slice(cut, size)])
        histories.append([slice(0, size), slice(cut, size), slice(0, cut)])
    half = size // 2
    histories.append(
        [slice(0, size), slice(0, half), slice(0, 1), slice(1, half), slice(half, size)]
        + [slice(n, n + 1) for n in range(half, size)]
    )
    return histories


def test_a_batch_delivered_again_whole_or_bisected_counts_each_step_once(
    settings: Settings,
) -> None:
    """As Lambda does after a function error: the batch again, or bisected (each history on a
    population of its own: a batch is bisected once per failure, not at every point)."""
    stack = build(settings)
    batches = Batches(stack)
    before = figures()
    journey(stack, [f"clean{n}" for n in range(4)])
    once = delta(before, figures())
    assert once["entered"] == 4 and once["template sent"] == 8
    assert len(batches.seen[-1]) == 4  # the four second steps, due together
    for index, history in enumerate(bisections(4)):
        before = figures()
        journey(stack, [f"h{index}-{n}" for n in range(4)])
        batch = batches.seen[-1]
        assert len(batch) == 4
        for part in history:
            stack.app.handle_enrollments({"Records": batch[part]})
        stack.drain()
        assert delta(before, figures()) == once, history


class KilledIn:
    """Notes the kills that stop the enrollments' worker."""

    def __init__(self, stack: Stack) -> None:
        self.kills = 0
        (stream,) = [s for s in stack.app.streams.streams if s.table.endswith("-enrollments")]
        handler = stream.handler

        def noted(event: Any, context: Any) -> Any:
            try:
                return handler(event, context)
            except Killed:
                self.kills += 1
                raise

        stream.handler = noted


def kill_run(
    stack: Stack, calls: CallCounter, prefix: str, kill_at: int | None, killed: list[str]
) -> tuple[Any, int]:
    """Two sign-ups handled by the workers (the events worker, the step runner's commits, the
    enrollments' worker, the fold), killed at call `kill_at` and delivered again; then the
    second step. Returns the figures it added and the calls of the killed drain."""
    stack.clock.now = START
    before = figures()
    for n in range(2):
        stack.contact(f"{prefix}-{n}", email=f"{prefix}-{n}@example.com")
    append(
        [
            Entry(
                subject=contact_subject(f"{prefix}-{n}"),
                event_id=f"{prefix}-signup-{n}",
                type="track",
                name="signed_up",
                timestamp=START,
                properties={},
                source="test",
                trust=VERIFIED,
            )
            for n in range(2)
        ],
        START,
    )
    start = calls.calls
    try:
        with calls.killing_at(kill_at):
            stack.drain()
    except Killed as kill:
        killed.append(str(kill))
    used = calls.calls - start
    stack.drain()  # delivered again
    stack.advance(timedelta(hours=2))
    # A kill between a step's commit and its wake-up's schedule: the sweeper finds it overdue.
    stack.clock.now += max(SWEEP_GRACE, STUCK_AFTER) + timedelta(seconds=1)
    stack.run_job("sweeper")
    stack.advance(timedelta(hours=1))
    return _timeless(delta(before, figures())), used


def _timeless(figures: dict[str, Decimal]) -> dict[str, Decimal]:
    """The figures with each step's time-to-step histogram summed: a wake-up the sweeper runs
    late lands in another bucket."""
    found: dict[str, Decimal] = {}
    for metric, value in figures.items():
        name = metric.split("#dt#", 1)[0] + "#dt" if "#dt#" in metric else metric
        found[name] = found.get(name, Decimal(0)) + value
    return found


def test_workers_killed_at_every_dynamodb_call_count_each_step_once(
    settings: Settings,
    dynamodb_calls: CallCounter,  # noqa: F811
) -> None:
    stack = build(settings)
    killed: list[str] = []
    tallies_killed = KilledIn(stack)
    clean, calls = kill_run(stack, dynamodb_calls, "clean", None, killed)
    assert clean["entered"] == 2 and clean["template sent"] == 4
    assert calls > 10
    for n in range(1, calls + 1):
        before = len(killed)
        result, used = kill_run(stack, dynamodb_calls, f"k{n}", n, killed)
        # Killed at call n, or the run needed fewer calls (the funnel index read: cached).
        assert len(killed) == before + 1 or used < n, n
        assert result == clean, (n, killed[-1:])
    # Both workers' tally puts (the events worker's, the enrollments' one), and the fold.
    assert sum("PutItem events" in kill for kill in killed) >= 2
    assert tallies_killed.kills  # the enrollments' worker, at its put, then delivered again
    assert any("UpdateItem counters" in kill for kill in killed)


def test_make_run_restarted_resumes_the_enrollments_stream_where_it_stopped(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both streams' positions are kept in `make run`'s data folder: a restart does not hand the
    day of enrollment records DynamoDB Local still holds to `step_tallies` again."""
    monkeypatch.setattr(local, "_positions_file", None)
    positions = tmp_path / "stream-positions.json"
    local.keep_positions_in(positions)
    stack = build(settings)
    before = figures()
    journey(stack, ["ann"])
    once = delta(before, figures())
    assert any("-enrollments/stream/" in arn for arn in json.loads(positions.read_text()))

    # A new process: nothing in memory. (Emptied in place, not replaced: the clean-up after the
    # test moves the process's positions past this test's records, for the tests after it.)
    local._handled.clear()
    local.keep_positions_in(positions)
    assert wiring.bootstrap(settings).drain() == 0
    assert delta(before, figures()) == once
