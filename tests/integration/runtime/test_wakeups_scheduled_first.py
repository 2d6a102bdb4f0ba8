"""A wait due later than SCHEDULE_FIRST_AFTER goes to the scheduler before the commit that
records it, and its enrollment is not in `by_wake` (chalicelib.runtime.runner). These tests kill
the step that schedules it at every DynamoDB call (the local scheduler's row is a DynamoDB call
too: a kill there is a failing CreateSchedule), race two deliveries that decide the same token
with different due times, and fail the schedule itself; then the input is delivered again, time
moves on and the sweeper runs. What a person would notice: each reminder goes out once, at the
due time its enrollment committed; a stray schedule (a killed attempt's, a lost race's) never
sends early, nor twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autofunnel.timetravel import Stack
from chalicelib.config import Settings
from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import VERIFIED, Entry, contact_subject
from chalicelib.runtime.dispatch import STUCK_AFTER
from chalicelib.runtime.runner import SWEEP_GRACE
from chalicelib.storage.messages import message_id_of, of_contact
from chalicelib.storage.models import Enrollment, Wakeup
from tests.integration.paging.conftest import dynamodb_calls  # noqa: F401 (fixture)
from tests.integration.paging.faults import CallCounter, CountingProvider, Killed

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: no quiet hours
LATE = timedelta(minutes=5)  # how much later an input is delivered again
REMINDERS = """
name: reminders
trigger: {event: cart_updated}
goal: {event: order_completed}
templates:
  r: {email: {subject: "Your cart", text: "Still thinking it over?"}}
steps:
  - {id: wait_1, kind: wait, duration: 30m}
  - {id: r1, kind: send, channel: email, template: r}
  - {id: wait_2, kind: wait, duration: 2d}
  - {id: r2, kind: send, channel: email, template: r}
"""


def build(settings: Settings) -> tuple[Stack, CountingProvider]:
    provider = CountingProvider()
    stack = Stack.build(START, settings=settings, channels={"email": provider})
    stack.publish("reminders.yaml", REMINDERS)
    return stack, provider


def sent(provider: CountingProvider, contact_id: str, step: str) -> int:
    return provider.sent[message_id_of(f"{contact_id}:reminders:1:{step}:1")]


def enrollment(contact_id: str) -> Enrollment:
    (row,) = list(Enrollment.query(contact_id))
    return row


def schedules(contact_id: str) -> list[datetime]:
    """When the contact's pending wake-ups fire (strays included), in order."""
    rows = [w for w in Wakeup.by_due.query("due") if w.payload["contact_id"] == contact_id]
    return sorted(datetime.fromisoformat(str(w.payload["due_at"])) for w in rows)


def sent_once_when_due(
    stack: Stack, provider: CountingProvider, contact_id: str, step: str
) -> datetime:
    """The enrollment's pending wake-up sends `step` once at its due time, not a second
    earlier (whatever strays fire before it), and its due time is returned."""
    row = enrollment(contact_id)
    assert row.wake_at is not None and row.wake_shard is None  # not in by_wake
    due = row.wake_at
    stack.advance(due - stack.clock() - timedelta(seconds=1))
    assert sent(provider, contact_id, step) == 0, (contact_id, step, "early")
    stack.advance(timedelta(seconds=1))
    assert sent(provider, contact_id, step) == 1, (contact_id, step, "not sent when due")
    return due


def the_rest_once(stack: Stack, provider: CountingProvider, contact_id: str) -> None:
    """The second reminder when due; then days pass, the sweeper runs: nothing more."""
    sent_once_when_due(stack, provider, contact_id, "r2")
    stack.clock.now += max(STUCK_AFTER, SWEEP_GRACE) + timedelta(seconds=1)
    stack.run_job("sweeper")
    stack.advance(timedelta(days=5))
    stack.run_job("sweeper")
    assert [sent(provider, contact_id, s) for s in ("r1", "r2")] == [1, 1]
    assert [(m.step_id, m.status) for m in of_contact(contact_id)] == [
        ("r1", "sent"),
        ("r2", "sent"),
    ]
    assert enrollment(contact_id).status == "completed"
    assert schedules(contact_id) == []  # strays fired (and changed nothing) or were replaced


def cart(stack: Stack, contact_id: str) -> None:
    """The cart event appended to the log, not yet handled by the worker."""
    entry = Entry(
        subject=contact_subject(contact_id),
        event_id=f"cart-{contact_id}",
        type="track",
        name="cart_updated",
        timestamp=stack.clock(),
        properties={"total": 70.0},
        source="test",
        trust=VERIFIED,
    )
    append([entry], stack.clock())


def test_the_entry_killed_at_every_dynamodb_call_waits_once_until_its_committed_time(
    settings: Settings,
    dynamodb_calls: CallCounter,  # noqa: F811
) -> None:
    """The worker's step that enters the funnel and schedules its 30-minute wait is killed at
    each call; the stream delivers the batch again five minutes later. A kill after the
    schedule and before the commit leaves a stray due five minutes before the wait the
    redelivery commits: it fires and sends nothing."""
    stack, provider = build(settings)

    def journey(contact_id: str, kill_at: int | None) -> tuple[int, str, list[datetime]]:
        stack.clock.now = START
        stack.contact(contact_id, email=f"{contact_id}@example.com")
        cart(stack, contact_id)
        start, killed = dynamodb_calls.calls, ""
        try:
            with dynamodb_calls.killing_at(kill_at):
                stack.drain()
        except Killed as kill:
            killed = str(kill)
        used = dynamodb_calls.calls - start
        stack.clock.now = START + LATE
        stack.drain()  # the stream delivers the batch again
        pending = schedules(contact_id)
        due = sent_once_when_due(stack, provider, contact_id, "r1")
        assert due in (START + timedelta(minutes=30), START + LATE + timedelta(minutes=30))
        assert pending[-1] == due and all(stray < due for stray in pending[:-1]), pending
        the_rest_once(stack, provider, contact_id)
        return used, killed, pending

    journey("warm", None)  # the first batch also reads what later ones find cached
    calls, _, pending = journey("clean", None)
    assert len(pending) == 1
    strays = 0
    for n in range(1, calls + 1):
        _, killed, pending = journey(f"k{n}", n)
        assert killed, n
        strays += len(pending) - 1
    assert strays >= 1  # some kill fell between the schedule and the commit


def test_the_wakeup_killed_at_every_dynamodb_call_sends_the_next_reminder_once_when_due(
    settings: Settings,
    dynamodb_calls: CallCounter,  # noqa: F811
) -> None:
    """The first reminder's wake-up (it sends, then schedules the 2-day wait before its commit)
    is killed at each call and delivered again five minutes later, as the scheduler retries."""
    stack, provider = build(settings)

    def journey(contact_id: str, kill_at: int | None) -> tuple[int, str, int]:
        stack.clock.now = START
        stack.contact(contact_id, email=f"{contact_id}@example.com")
        stack.event(contact_id, "cart_updated", total=70.0)
        stack.advance(timedelta(minutes=30) - timedelta(seconds=1))
        (payload,) = [
            w.payload for w in Wakeup.by_due.query("due") if w.payload["contact_id"] == contact_id
        ]
        stack.clock.now = START + timedelta(minutes=30)
        start, killed = dynamodb_calls.calls, ""
        try:
            with dynamodb_calls.killing_at(kill_at):
                stack.runtime.handle_wakeup(dict(payload))
        except Killed as kill:
            killed = str(kill)
        used = dynamodb_calls.calls - start
        stack.clock.now += LATE
        stack.runtime.handle_wakeup(dict(payload))  # delivered again
        stack.drain()
        committed = enrollment(contact_id).wake_at
        assert committed is not None
        strays = [d for d in schedules(contact_id) if START + timedelta(days=1) < d < committed]
        stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
        stack.run_job("sweeper")  # a send the kill interrupted
        # Killed after the provider took it, before its result was written: sent again (the
        # one window the step's messages leave: test_step_messages_faults.py).
        if sent(provider, contact_id, "r1") != 1:
            assert sent(provider, contact_id, "r1") == 2 and " messages " in killed, killed
        provider.sent[message_id_of(f"{contact_id}:reminders:1:r1:1")] = 1
        the_rest_once(stack, provider, contact_id)
        return used, killed, len(strays)

    journey("warm", None)
    calls, _, _ = journey("clean", None)
    strays = 0
    for n in range(1, calls + 1):
        _, killed, left = journey(f"k{n}", n)
        assert killed, n
        strays += left
    assert strays >= 1  # some kill fell between the schedule and the commit


def test_a_stray_from_a_lost_race_never_sends_early(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first reminder's wake-up schedules the 2-day wait; before its commit lands, the same
    wake-up delivered again three minutes later decides the same token with a due time three
    minutes later and commits first. The loser's schedule fires first: nothing is sent until
    the winner's."""
    stack, provider = build(settings)
    stack.contact("ann", email="ann@example.com")
    stack.event("ann", "cart_updated", total=70.0)
    (row,) = list(Wakeup.by_due.query("due"))
    payload = dict(row.payload)
    schedule = stack.scheduler.schedule
    raced: list[Any] = []

    def duplicate_delivered_meanwhile(wakeup: Any) -> None:
        schedule(wakeup)
        if not raced:
            raced.append(wakeup)
            loser_now = stack.clock.now
            stack.clock.now += timedelta(minutes=3)
            stack.runtime.handle_wakeup(dict(payload))  # the winner: it commits first
            stack.clock.now = loser_now

    monkeypatch.setattr(stack.scheduler, "schedule", duplicate_delivered_meanwhile)
    stack.advance(timedelta(minutes=30))
    monkeypatch.setattr(stack.scheduler, "schedule", schedule)
    stray = raced[0].due_at
    winner = enrollment("ann").wake_at
    assert winner == stray + timedelta(minutes=3)
    assert schedules("ann") == [stray, winner]
    assert sent(provider, "ann", "r1") == 1
    stack.drain()
    the_rest_once(stack, provider, "ann")


def test_a_failing_schedule_commits_nothing_and_the_redelivery_schedules_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, provider = build(settings)
    stack.contact("ann", email="ann@example.com")
    stack.event("ann", "cart_updated", total=70.0)
    before = enrollment("ann")
    schedule = stack.scheduler.schedule

    def unavailable(wakeup: Any) -> None:
        raise RuntimeError("CreateSchedule: ServiceUnavailable")

    monkeypatch.setattr(stack.scheduler, "schedule", unavailable)
    (row,) = list(Wakeup.by_due.query("due"))
    stack.clock.now = START + timedelta(minutes=30)
    with pytest.raises(RuntimeError):
        stack.runtime.handle_wakeup(dict(row.payload))
    after = enrollment("ann")
    assert (after.version, after.current_step, after.committed_sends) == (
        before.version,
        before.current_step,
        before.committed_sends,
    )
    assert sent(provider, "ann", "r1") == 0 and of_contact("ann") == []
    monkeypatch.setattr(stack.scheduler, "schedule", schedule)
    stack.advance(timedelta(0))  # the scheduler delivers it again (its row is still there)
    stack.drain()
    assert sent(provider, "ann", "r1") == 1
    assert schedules("ann") == [START + timedelta(minutes=30, days=2)]
    the_rest_once(stack, provider, "ann")


def test_a_paused_funnel_holds_a_wakeup_and_sends_once_after_it_resumes(
    settings: Settings,
) -> None:
    """A held wake-up fires again every PAUSE_RETRY under its own name (due when the
    enrollment says, so it acts), with no `by_wake` entry to fall back on."""
    stack, provider = build(settings)
    stack.contact("ann", email="ann@example.com")
    stack.event("ann", "cart_updated", total=70.0)
    stack.funnels.set_state("reminders", "paused")
    stack.advance(timedelta(minutes=30))
    assert sent(provider, "ann", "r1") == 0
    assert schedules("ann") == [START + timedelta(minutes=30)]  # due then, fires later
    (retry,) = list(Wakeup.by_due.query("due"))
    assert retry.due_at.startswith("2026-11-23T09:35")
    stack.advance(timedelta(minutes=12))  # held twice more
    assert sent(provider, "ann", "r1") == 0 and len(schedules("ann")) == 1
    stack.funnels.set_state("reminders", "active")
    stack.advance(timedelta(minutes=5))
    assert sent(provider, "ann", "r1") == 1
    stack.drain()
    the_rest_once(stack, provider, "ann")


SOON = """
name: soon
trigger: {event: viewed}
templates:
  n: {email: {subject: "Still there?", text: "Come back"}}
steps:
  - {id: wait, kind: wait, duration: 10m}
  - {id: nudge, kind: send, channel: email, template: n}
"""


def test_a_held_wakeup_the_sweeper_also_finds_does_not_multiply(settings: Settings) -> None:
    """A near wake-up stays in by_wake, so while its funnel is paused both its chain of retries
    and every sweep hold it again: on one grid their retries share names."""
    stack, provider = build(settings)
    stack.publish("soon.yaml", SOON)
    stack.contact("bob", email="bob@example.com")
    stack.event("bob", "viewed")
    stack.funnels.set_state("soon", "paused")
    for i in range(12):  # an hour paused, a sweep every 5 minutes at drifting times
        stack.advance(timedelta(minutes=2, seconds=i))
        stack.run_job("sweeper")
        stack.advance(timedelta(minutes=3, seconds=-i))
        assert len(schedules("bob")) <= 2, schedules("bob")
    stack.funnels.set_state("soon", "active")
    stack.advance(timedelta(minutes=10))
    stack.run_job("sweeper")
    stack.advance(timedelta(minutes=10))
    assert provider.sent[message_id_of("bob:soon:1:nudge:1")] == 1
    assert schedules("bob") == []
