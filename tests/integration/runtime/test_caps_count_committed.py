"""Frequency caps count only messages a committed step decided and a dispatcher acted on.

`by_contact`, which caps read, lists a message from the write that records its outcome (sent,
deferred, held, failed, skipped), never from the write that creates it: a message record that
no step committed (an input that lost a race, a crashed attempt whose input is delivered
again) can never count against a cap. Erasure finds the messages not listed yet through the
contact's enrollments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autofunnel.timetravel import Stack
from chalicelib.config import Settings
from chalicelib.identity.erase import erase
from chalicelib.runtime.dispatch import SENDING, STUCK_AFTER, dispatch_shard
from chalicelib.storage.messages import of_contact
from chalicelib.storage.models import Message
from tests.integration.runtime.test_exactly_once import Crash, CrashingOutbox

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: no quiet hours
THANKS = """
name: thanks
trigger: {event: order_completed}
policy: {cap: {max: 1, per: 1d}}
templates:
  thanks: {email: {subject: "Thank you", text: "Your order is on its way"}}
steps:
  - {id: thank, kind: send, channel: email, template: thanks}
"""


@pytest.fixture
def stack(settings: Settings) -> Stack:
    stack = Stack.build(START)
    stack.publish("thanks.yaml", THANKS)
    stack.contact("ann", email="ann@example.com", first_name="Ann")
    return stack


def unrecorded(contact_id: str, at: datetime) -> Message:
    """What an input that lost the race for its enrollment leaves (its message is written
    before its step's commit): a claimed record that no enrollment commit ever named."""
    message_id = f"{'f' * 24}{contact_id:0>8}"[:32]
    message = Message(
        message_id,
        idempotency_key=f"{contact_id}:cart:1:reminder_2:1",
        contact_id=contact_id,
        enrollment_id=f"{contact_id}:cart:1",
        funnel="cart",
        step_id="reminder_2",
        channel="email",
        content={"channels": ["email"], "by_channel": {"email": {"subject": "Still there?"}}},
        status=SENDING,
        attempts=1,
        decided_on=1,
        created_at=at,
        dispatch_shard=dispatch_shard(message_id),
    )
    message.save()
    return message


def test_a_message_no_step_committed_never_counts_against_another_funnels_cap(
    stack: Stack,
) -> None:
    unrecorded("ann", START - timedelta(seconds=1))
    stack.event("ann", "order_completed", total=70.0)
    assert [(m.funnel, m.status) for m in of_contact("ann")] == [("thanks", "sent")]


def test_a_recorded_send_still_counts_against_the_cap(stack: Stack) -> None:
    stack.contact("bob", email="bob@example.com")
    stack.publish(
        "welcome.yaml",
        THANKS.replace("name: thanks", "name: welcome").replace("order_completed", "signed_up"),
    )
    stack.event("bob", "signed_up")
    stack.clock.now += timedelta(minutes=5)
    stack.event("bob", "order_completed", total=70.0)
    sent = [(m.funnel, m.status) for m in of_contact("bob")]
    assert sent == [("welcome", "sent")]  # the thank-you waits for tomorrow (the cap)
    stack.advance(timedelta(days=1))
    assert [(m.funnel, m.status) for m in of_contact("bob")][-1] == ("thanks", "sent")


def test_erasure_finds_a_message_a_crash_left_unlisted(stack: Stack) -> None:
    outbox = CrashingOutbox(crashes=1)
    stack.dispatcher._channels = {**stack.dispatcher._channels, "email": outbox}
    with pytest.raises(Crash):
        stack.event("ann", "order_completed", total=70.0)
    assert of_contact("ann") == []  # committed, its outcome not recorded yet: not listed
    assert erase("ann")["messages"] == 1
    stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
    stack.run_job("sweeper")
    assert outbox.sent == []
