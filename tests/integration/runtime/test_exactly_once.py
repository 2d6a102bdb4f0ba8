"""Fault tests: duplicated, late and racing inputs, and a runner that dies mid-send."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from autofunnel.timetravel import Stack
from chalicelib.channels.base import OutgoingMessage, SendResult
from chalicelib.config import Settings
from chalicelib.runtime.dispatch import STUCK_AFTER
from chalicelib.runtime.scheduler import Wakeup as Scheduled
from chalicelib.storage import enrollment_state
from chalicelib.storage.messages import message_id_of, of_contact
from chalicelib.storage.models import Enrollment, Message, Wakeup

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CART = {
    "items_count": 1,
    "total": 70.0,
    "currency": "EUR",
    "cart_url": "https://shop.example.com/cart/9",
    "items": [{"name": "Shirt", "price": 70.0}],
}


@pytest.fixture
def stack(settings: Settings) -> Stack:
    stack = Stack.build(START)
    stack.publish("abandoned_cart.yaml")
    stack.contact("ann", email="ann@example.com", first_name="Ann")
    stack.event("ann", "cart_updated", **CART)
    return stack


def pending_wakeup() -> dict[str, object]:
    (row,) = list(Wakeup.by_due.query("due"))
    return dict(row.payload)


def messages(step: str | None = None) -> list[Message]:
    return [m for m in of_contact("ann") if step is None or m.step_id == step]


def enrollment() -> Enrollment:
    (row,) = list(Enrollment.query("ann"))
    return row


def at_once(*calls: Callable[[], object]) -> None:
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as error:  # surfaced below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_the_same_wakeup_delivered_twice_at_once_sends_one_message(stack: Stack) -> None:
    payload = pending_wakeup()
    stack.clock.now = START + timedelta(minutes=30)
    at_once(*(lambda: stack.runtime.handle_wakeup(payload) for _ in range(4)))
    assert [(m.step_id, m.status) for m in messages()] == [("reminder_1", "sent")]
    assert enrollment().current_step == "wait_1d"
    stack.runtime.handle_wakeup(payload)  # and once more, late
    assert len(messages()) == 1


def test_a_wakeup_after_the_goal_does_nothing(stack: Stack) -> None:
    payload = pending_wakeup()
    stack.clock.now = START + timedelta(minutes=10)
    stack.event("ann", "order_completed", total=70.0)
    assert list(Wakeup.by_due.query("due")) == []  # the goal cancelled it
    stack.clock.now = START + timedelta(minutes=30)
    stack.runtime.handle_wakeup(payload)  # a schedule whose deletion raced with its firing
    assert messages() == []
    assert enrollment().status == "converted"


def test_two_events_racing_for_one_enrollment_leave_one_consistent_outcome(stack: Stack) -> None:
    stack.clock.now = START + timedelta(minutes=5)
    at_once(
        lambda: stack.event("ann", "order_completed", total=70.0),
        lambda: stack.event("ann", "cart_updated", items_count=0),
    )
    row = enrollment()
    assert row.status in ("converted", "exited")
    assert enrollment_state.state_of(row).status == row.status
    assert row.wake_at is None and row.wake_shard is None
    stack.advance(timedelta(days=5))
    assert messages() == []


class Crash(BaseException):
    """The Lambda is killed: nothing after this point runs."""


class CrashingOutbox:
    name = "outbox"

    def __init__(self, crashes: int) -> None:
        self.crashes = crashes
        self.sent: list[str] = []

    def send(self, message: OutgoingMessage) -> SendResult:
        if self.crashes:
            self.crashes -= 1
            raise Crash
        self.sent.append(message.message_id)
        return SendResult(provider_id=f"outbox-{message.message_id}")


def test_a_runner_killed_between_claim_and_send_sends_once_after_recovery(stack: Stack) -> None:
    outbox = CrashingOutbox(crashes=1)
    stack.dispatcher._channels = {**stack.dispatcher._channels, "email": outbox}
    stack.clock.now = START + timedelta(minutes=30)
    with pytest.raises(Crash):
        stack.runtime.handle_wakeup(pending_wakeup())
    assert messages() == []  # listed on the contact only once its outcome is recorded
    message = Message.get(message_id_of(f"{enrollment().enrollment_id}:reminder_1:1"))
    assert message.status == "sending"
    stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
    stack.run_job("sweeper")
    stack.run_job("sweeper")
    (message,) = messages()
    assert (message.status, message.attempts) == ("sent", 2)
    assert outbox.sent == [message.message_id]
    # The next wake-up (a day away) went to the scheduler before the commit: the crash after
    # it lost nothing. The crashed delivery's is still there, and changes nothing when it fires.
    assert sorted(w.payload["token"] for w in Wakeup.by_due.query("due")) == [1, 2]
    assert enrollment().wake_shard is None  # not in by_wake: the sweeper need not look
    stack.advance(timedelta(days=1, minutes=3))
    assert [m.step_id for m in messages() if m.status == "sent"] == ["reminder_1", "reminder_2"]


def test_a_send_interrupted_twice_is_marked_failed_visibly(stack: Stack) -> None:
    outbox = CrashingOutbox(crashes=2)
    stack.dispatcher._channels = {**stack.dispatcher._channels, "email": outbox}
    stack.clock.now = START + timedelta(minutes=30)
    with pytest.raises(Crash):
        stack.runtime.handle_wakeup(pending_wakeup())
    stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
    with pytest.raises(Crash):
        stack.run_job("sweeper")
    stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
    stack.run_job("sweeper")
    (message,) = messages()
    assert message.status == "failed"
    assert message.error == "interrupted while sending, twice"
    assert outbox.sent == []


NUDGE = """
name: nudge
trigger: {event: viewed}
templates:
  n: {email: {subject: "Still there?", text: "Come back"}}
steps:
  - {id: soon, kind: wait, duration: 10m}
  - {id: nudge, kind: send, channel: email, template: n}
"""


def test_a_lost_wakeup_due_soon_is_run_by_the_sweeper(stack: Stack) -> None:
    """A wake-up due within SCHEDULE_FIRST_AFTER is scheduled after its commit (it could fire
    before a commit still on its way): the enrollment stays in by_wake for the sweeper."""
    stack.publish("nudge.yaml", NUDGE)
    stack.contact("bob", email="bob@example.com")
    stack.event("bob", "viewed")
    (row,) = Enrollment.query("bob")
    assert row.wake_shard is not None
    (lost,) = [w for w in Wakeup.by_due.query("due") if w.payload["contact_id"] == "bob"]
    lost.delete()  # the scheduler lost it (or a crash came before it was scheduled)
    stack.clock.now = START + timedelta(minutes=13)
    stack.run_job("sweeper")
    assert [(m.step_id, m.status) for m in of_contact("bob")] == [("nudge", "sent")]


def as_the_previous_release_left_it() -> Wakeup:
    """Ann's first wait as the previous release committed it: in by_wake, its wake-up
    scheduled under the older name (the token only), with the same payload."""
    (scheduled,) = list(Wakeup.by_due.query("due"))
    assert enrollment().wake_shard is None  # scheduled before its commit: not in by_wake
    scheduled.delete()
    enrollment().update(actions=[Enrollment.wake_shard.set("w0")])
    old = Scheduled.from_payload(dict(scheduled.payload)).legacy_name
    Wakeup(old, due_at=scheduled.due_at, payload=dict(scheduled.payload)).save()
    return Wakeup(old)


def test_a_lost_wakeup_of_the_previous_release_is_run_by_the_sweeper(stack: Stack) -> None:
    old = as_the_previous_release_left_it()
    old.delete()  # the scheduler lost it
    stack.clock.now = START + timedelta(minutes=33)
    stack.run_job("sweeper")
    assert [(m.step_id, m.status) for m in messages()] == [("reminder_1", "sent")]
    assert enrollment().wake_shard is None  # its next wait is scheduled first


def test_a_wakeup_of_the_previous_release_fires_once_under_its_older_name(stack: Stack) -> None:
    as_the_previous_release_left_it()
    stack.advance(timedelta(minutes=31))
    stack.run_job("sweeper")
    assert [(m.step_id, m.status) for m in messages()] == [("reminder_1", "sent")]
    stack.advance(timedelta(days=1, minutes=1))
    stack.clock.now += timedelta(minutes=5)
    stack.run_job("sweeper")
    assert [(m.step_id, m.status) for m in messages()] == [
        ("reminder_1", "sent"),
        ("reminder_2", "sent"),
    ]
