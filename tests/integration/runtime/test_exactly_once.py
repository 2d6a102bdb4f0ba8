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
    assert row.state["status"] == row.status
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
    # The crash also lost the next wake-up (scheduled after the send): the sweeper runs it.
    assert [w.payload["token"] for w in Wakeup.by_due.query("due")] == [1]  # only the old one
    stack.clock.now = START + timedelta(days=1, minutes=33)
    stack.run_job("sweeper")
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


def test_a_lost_wakeup_is_run_by_the_sweeper(stack: Stack) -> None:
    Wakeup(next(iter(Wakeup.by_due.query("due"))).name).delete()  # the scheduler lost it
    stack.clock.now = START + timedelta(minutes=33)
    stack.run_job("sweeper")
    assert [(m.step_id, m.status) for m in messages()] == [("reminder_1", "sent")]
