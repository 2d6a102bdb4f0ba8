"""A step's messages are written before the transaction that commits the step (chalicelib.
runtime.sends). These tests kill the wake-up at every DynamoDB call, and race an input that
loses against one that wins, and check what a person would notice: each message goes out
exactly once, a message no commit named never goes out and never counts against a cap.

The kill is a BaseException raised at the botocore layer before the N-th call
(tests/integration/paging/faults.py). A kill leaves the local scheduler's row in place, so the
next `advance` delivers the wake-up again, as EventBridge Scheduler retries; the sweeper runs
after it, as on AWS; the sweeper is killed at each of its own calls too. As in the worker's kill
test, one window stays: killed after the provider took a message and before its result was
written, the recovery sends it again.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from autofunnel.timetravel import Stack
from chalicelib.analytics import counters, keys
from chalicelib.channels.base import OutgoingMessage, SendResult
from chalicelib.config import Settings
from chalicelib.runtime import sends
from chalicelib.runtime.dispatch import SHARDS, STUCK_AFTER
from chalicelib.runtime.runner import SWEEP_GRACE
from chalicelib.storage.messages import message_id_of, of_contact
from chalicelib.storage.models import Enrollment, Message, Wakeup
from tests.integration.paging.conftest import dynamodb_calls  # noqa: F401 (fixture)
from tests.integration.paging.faults import CallCounter, CountingProvider, Killed

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: no quiet hours
# One a day, like rfm_winback: a redelivered attempt must not be capped by its own record.
REMINDERS = """
name: reminders
trigger: {event: cart_updated}
goal: {event: order_completed}
policy: {cap: {max: 1, per: 1d}}
templates:
  r: {email: {subject: "Your cart", text: "Still thinking it over?"}}
steps:
  - {id: wait_1, kind: wait, duration: 30m}
  - {id: r1, kind: send, channel: email, template: r}
  - {id: wait_2, kind: wait, duration: 2d}
  - {id: r2, kind: send, channel: email, template: r}
"""
THANKS = """
name: thanks
trigger: {event: order_completed}
templates:
  t: {email: {subject: "Thank you", text: "Your order is on its way"}}
steps:
  - {id: thank, kind: send, channel: email, template: t}
"""


def build(settings: Settings) -> tuple[Stack, CountingProvider]:
    provider = CountingProvider()
    stack = Stack.build(START, settings=settings, channels={"email": provider})
    stack.publish("reminders.yaml", REMINDERS)
    stack.publish("thanks.yaml", THANKS)
    return stack, provider


def message_of(contact_id: str, step: str, funnel: str = "reminders") -> str:
    return message_id_of(f"{contact_id}:{funnel}:1:{step}:1")


def unlisted(contact_id: str) -> list[Message]:
    """Message records of the contact waiting in by_dispatch (not sent, not listed)."""
    ids = [
        key.message_id for shard in range(SHARDS) for key in Message.by_dispatch.query(f"d{shard}")
    ]
    found = Message.batch_get(ids) if ids else []
    return [m for m in found if m.contact_id == contact_id]


def figures() -> dict[str, Decimal]:
    return {
        metric: Decimal(str(value))
        for metric, value in counters.read(keys.funnel_scope("reminders", 1)).items()
    }


def _timeless(delta: dict[str, Decimal]) -> dict[str, Decimal]:
    """The figures with each step's time-to-step histogram summed: a wake-up that a kill lost
    runs when the sweeper finds it overdue, a little later, in another bucket."""
    found: dict[str, Decimal] = {}
    for metric, value in delta.items():
        name = metric.split("#dt#", 1)[0] + "#dt" if "#dt#" in metric else metric
        found[name] = found.get(name, Decimal(0)) + value
    return found


def journey(
    stack: Stack,
    provider: CountingProvider,
    calls: CallCounter,
    contact_id: str,
    kill_at: int | None,
) -> tuple[dict[str, Any], int, str]:
    """A cart, its first reminder's wake-up killed at call `kill_at` and delivered again, the
    sweeper, the second reminder. Returns what the person and the figures show, the calls of
    the killed delivery, and where the kill happened."""
    stack.clock.now = START
    stack.contact(contact_id, email=f"{contact_id}@example.com")
    before = figures()
    stack.event(contact_id, "cart_updated", total=70.0)
    killed = ""
    start = calls.calls
    try:
        with calls.killing_at(kill_at):
            stack.advance(timedelta(minutes=30))
    except Killed as kill:
        killed = str(kill)
    used = calls.calls - start
    stack.advance(timedelta(0))  # the scheduler delivers the wake-up again
    stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
    stack.run_job("sweeper")
    stack.advance(timedelta(days=2))  # the second reminder is due now
    stack.clock.now += SWEEP_GRACE + timedelta(seconds=1)
    stack.run_job("sweeper")  # its wake-up, if a kill lost it before it was scheduled
    stack.advance(timedelta(days=1))
    after = figures()
    row = next(iter(Enrollment.query(contact_id)))
    outcome = {
        "listed": sorted((m.step_id, m.status) for m in of_contact(contact_id)),
        "provider": [provider.sent[message_of(contact_id, s)] for s in ("r1", "r2")],
        "unlisted": unlisted(contact_id),
        "enrollment": (row.status, row.current_step, sorted(row.committed_sends or ())),
        "figures": _timeless(
            {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        ),
    }
    return outcome, used, killed


def test_a_wakeup_killed_at_every_dynamodb_call_sends_each_reminder_once(
    settings: Settings,
    dynamodb_calls: CallCounter,  # noqa: F811
) -> None:
    stack, provider = build(settings)
    clean, calls, _ = journey(stack, provider, dynamodb_calls, "clean", None)
    assert clean["listed"] == [("r1", "sent"), ("r2", "sent")]
    assert clean["provider"] == [1, 1]
    assert clean["unlisted"] == []
    assert clean["enrollment"] == ("completed", None, ["r1:1", "r2:1"])
    assert calls > 10
    resent = []
    for n in range(1, calls + 1):
        result, _, killed = journey(stack, provider, dynamodb_calls, f"k{n}", n)
        assert killed, n
        if result["provider"] != clean["provider"]:
            # Killed after the provider took the message, before its result was written.
            assert result["provider"] == [2, 1] and " messages " in killed, (n, killed)
            result["provider"] = clean["provider"]
            resent.append(killed)
        for part in ("listed", "provider", "unlisted", "enrollment", "figures"):
            assert result[part] == clean[part], (n, killed, part)
    assert len(resent) <= 2, resent


def first_reminder_killed_before_its_commit(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first reminder's wake-up dies between its message's put and the step's commit."""
    put_before = sends.put_before

    def killed_after_the_put(*args: Any) -> Any:
        put_before(*args)
        raise Killed("between the message's put and the step's commit")

    monkeypatch.setattr(sends, "put_before", killed_after_the_put)
    with pytest.raises(Killed):
        stack.advance(timedelta(minutes=30))
    monkeypatch.setattr(sends, "put_before", put_before)


def test_a_redelivered_attempt_killed_before_its_commit_still_sends_under_a_one_a_day_cap(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, provider = build(settings)
    stack.contact("ann", email="ann@example.com")
    stack.event("ann", "cart_updated", total=70.0)
    first_reminder_killed_before_its_commit(stack, monkeypatch)
    assert Message.get(message_of("ann", "r1")).status == "sending"  # written, not committed
    assert of_contact("ann") == []  # and not counted by the cap
    stack.advance(timedelta(0))  # delivered again
    assert [(m.step_id, m.status) for m in of_contact("ann")] == [("r1", "sent")]
    assert provider.sent[message_of("ann", "r1")] == 1
    stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
    stack.run_job("sweeper")
    assert provider.sent[message_of("ann", "r1")] == 1


def test_a_reminder_that_loses_the_race_to_the_order_never_goes_out_nor_counts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wake-up of a cart's reminder decides on the enrollment as it was; the order that
    converts the cart commits first and enters a post-purchase funnel, under a workspace cap
    of one message a day. The thank-you goes out; the reminder's record is never sent and the
    sweeper deletes it."""
    capped = dataclasses.replace(settings, frequency_cap=(1, timedelta(days=1)))
    stack, provider = build(capped)
    stack.contact("ann", email="ann@example.com")
    stack.event("ann", "cart_updated", total=70.0)
    put_before = sends.put_before
    raced: list[str] = []

    def order_commits_meanwhile(row: Enrollment, *args: Any) -> Any:
        written = put_before(row, *args)
        if row.funnel == "reminders" and not raced:
            raced.append(row.enrollment_id)
            assert [m.status for m in unlisted("ann")] == ["sending"]  # the racer's record
            stack.event("ann", "order_completed", total=70.0)
        return written

    monkeypatch.setattr(sends, "put_before", order_commits_meanwhile)
    stack.advance(timedelta(minutes=30))
    assert raced
    assert [(m.funnel, m.step_id, m.status) for m in of_contact("ann")] == [
        ("thanks", "thank", "sent")
    ]
    assert provider.sent[message_of("ann", "thank", "thanks")] == 1
    (row,) = [r for r in Enrollment.query("ann") if r.funnel == "reminders"]
    assert row.status == "converted" and not row.committed_sends
    stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
    stack.run_job("sweeper")
    assert unlisted("ann") == []  # the orphan is gone
    stack.advance(timedelta(days=3))
    stack.run_job("sweeper")
    assert provider.sent[message_of("ann", "r1")] == 0
    assert [m.funnel for m in of_contact("ann")] == ["thanks"]


def test_a_redelivery_that_commits_while_the_sweeper_looks_at_its_record_sends_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweeper reads a record a crash left before its commit; before it decides, the
    input is delivered again, stamps and commits the record and is sending it (the provider
    call is in flight) when the sweeper goes on. The sweeper must not send it too."""
    stack, provider = build(settings)
    stack.contact("ann", email="ann@example.com")
    stack.event("ann", "cart_updated", total=70.0)
    first_reminder_killed_before_its_commit(stack, monkeypatch)
    verdict = sends.verdict
    stack.clock.now += STUCK_AFTER + timedelta(seconds=1)

    in_flight, release = threading.Event(), threading.Event()
    send = provider.send

    def slow_send(message: OutgoingMessage) -> SendResult:
        result = send(message)
        if threading.current_thread() is not threading.main_thread():
            in_flight.set()
            release.wait(30)
        return result

    monkeypatch.setattr(provider, "send", slow_send)
    redelivery = threading.Thread(target=lambda: stack.runtime.handle_wakeup(wakeup_payload()))

    def redelivered_meanwhile(message: Message, now: datetime) -> bool | None:
        redelivery.start()  # the wake-up again: it stamps, commits and calls the provider
        assert in_flight.wait(30)
        return verdict(message, now)

    monkeypatch.setattr(sends, "verdict", redelivered_meanwhile)
    # The wake-up is overdue too: this sweep leaves it to the redelivery above.
    monkeypatch.setattr(stack.runtime, "wake_overdue", lambda *_: None)
    try:
        stack.run_job("sweeper")
    finally:
        release.set()
        redelivery.join()
    monkeypatch.setattr(sends, "verdict", verdict)
    monkeypatch.delattr(stack.runtime, "wake_overdue")  # the runtime's own again
    stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
    stack.run_job("sweeper")
    assert provider.sent[message_of("ann", "r1")] == 1
    assert [(m.step_id, m.status) for m in of_contact("ann")] == [("r1", "sent")]


def wakeup_payload() -> dict[str, Any]:
    """The first wake-up due (the killed attempt also left its next one, a stray)."""
    row = next(iter(Wakeup.by_due.query("due", scan_index_forward=True, limit=1)))
    return dict(row.payload)


class CrashingProvider(CountingProvider):
    """Killed at its first call for the listed messages, before taking them."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_on: set[str] = set()

    def send(self, message: OutgoingMessage) -> SendResult:
        if message.message_id in self.crash_on:
            self.crash_on.discard(message.message_id)
            raise Killed("the step runner died before the provider took the message")
        return super().send(message)


def stuck_and_orphaned(
    stack: Stack, provider: CrashingProvider, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> tuple[str, str]:
    """Two carts: the first one's reminder committed, its send killed (stuck, for the sweeper
    to send); the second one's reminder lost the race to the order (an orphan, to delete)."""
    stuck, orphaned = f"{prefix}-stuck", f"{prefix}-orphaned"
    stack.clock.now = START
    for contact_id in (stuck, orphaned):
        stack.contact(contact_id, email=f"{contact_id}@example.com")
        stack.event(contact_id, "cart_updated", total=70.0)
    provider.crash_on.add(message_of(stuck, "r1"))
    put_before = sends.put_before

    def order_commits_meanwhile(row: Enrollment, *args: Any) -> Any:
        written = put_before(row, *args)
        if row.contact_id == orphaned and row.funnel == "reminders":
            monkeypatch.setattr(sends, "put_before", put_before)
            stack.event(orphaned, "order_completed", total=70.0)
        return written

    monkeypatch.setattr(sends, "put_before", order_commits_meanwhile)
    with pytest.raises(Killed):
        stack.advance(timedelta(minutes=30))
    stack.advance(timedelta(0))  # the rest of the due wake-ups (the stuck one's again)
    monkeypatch.setattr(sends, "put_before", put_before)
    assert [m.status for m in unlisted(stuck)] == ["sending"]
    assert [m.status for m in unlisted(orphaned)] == ["sending"]
    return stuck, orphaned


def test_the_sweeper_killed_at_every_dynamodb_call_sends_the_stuck_once_and_never_an_orphan(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    dynamodb_calls: CallCounter,  # noqa: F811
) -> None:
    provider = CrashingProvider()
    stack = Stack.build(START, settings=settings, channels={"email": provider})
    stack.publish("reminders.yaml", REMINDERS)
    stack.publish("thanks.yaml", THANKS)

    def sweep(prefix: str, kill_at: int | None) -> tuple[tuple[int, str], tuple[int, int], int]:
        stuck, orphaned = stuck_and_orphaned(stack, provider, monkeypatch, prefix)
        stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
        start = dynamodb_calls.calls
        try:
            with dynamodb_calls.killing_at(kill_at):
                stack.run_job("sweeper")
        except Killed:
            stack.clock.now += timedelta(minutes=10)  # the killed invocation's lease runs out
        used = dynamodb_calls.calls - start
        stack.run_job("sweeper")  # the next tick
        stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
        stack.run_job("sweeper")
        status = str(Message.get(message_of(stuck, "r1")).status)
        return (
            (provider.sent[message_of(stuck, "r1")], status),
            (provider.sent[message_of(orphaned, "r1")], len(unlisted(orphaned))),
            used,
        )

    clean_stuck, clean_orphan, calls = sweep("clean", None)
    assert clean_stuck == (1, "sent")
    assert clean_orphan == (0, 0)
    for n in range(1, calls + 1):
        stuck, orphan, _ = sweep(f"k{n}", n)
        assert orphan == (0, 0), n  # never sent, deleted
        # Sent once; or, killed between its second claim and the provider, marked failed
        # (interrupted twice, as before); or killed after the provider took it and before its
        # result was written, recorded failed too: never sent twice.
        assert stuck in ((1, "sent"), (0, "failed"), (1, "failed")), (n, stuck)
