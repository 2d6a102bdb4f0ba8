"""The abandoned-cart funnel on DynamoDB Local with the local scheduler and a controllable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autofunnel.timetravel import Stack
from chalicelib.channels.base import OutgoingMessage, SendResult
from chalicelib.config import Settings
from chalicelib.runtime import views
from chalicelib.storage import messages
from chalicelib.storage.models import Enrollment, Wakeup

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: outside quiet hours
CART = {
    "items_count": 2,
    "total": 120.0,
    "currency": "EUR",
    "cart_url": "https://shop.example.com/cart/1",
    "items": [{"name": "Linen shirt", "price": 70.0}, {"name": "Canvas bag", "price": 50.0}],
}


def at(delta: timedelta) -> str:
    return (START + delta).isoformat()


@pytest.fixture
def stack(settings: Settings) -> Stack:
    stack = Stack.build(START)
    stack.publish("abandoned_cart.yaml")
    for name in ("buys_after_first", "never_buys", "buys_before_first"):
        stack.contact(name, email=f"{name}@example.com", first_name=name)
    return stack


def test_three_shoppers_get_exactly_their_reminders(stack: Stack) -> None:
    for name in ("buys_after_first", "never_buys", "buys_before_first"):
        stack.event(name, "cart_updated", **CART)
    stack.advance(timedelta(minutes=10))
    stack.event("buys_before_first", "order_completed", total=120.0)
    stack.advance(timedelta(hours=2))
    stack.event("buys_after_first", "order_completed", total=120.0)
    stack.advance(timedelta(days=10))

    thirty = timedelta(minutes=30)
    assert stack.outbox("buys_before_first") == []
    assert stack.outbox("buys_after_first") == [(at(thirty), "reminder_1", "email")]
    assert stack.outbox("never_buys") == [
        (at(thirty), "reminder_1", "email"),
        (at(thirty + timedelta(days=1)), "reminder_2", "email"),
        (at(thirty + timedelta(days=3)), "reminder_3", "email"),
    ]
    statuses = {
        e.contact_id: e.status
        for name in ("buys_after_first", "never_buys", "buys_before_first")
        for e in Enrollment.query(name)
    }
    assert statuses == {
        "buys_after_first": "converted",
        "never_buys": "completed",
        "buys_before_first": "converted",
    }
    assert list(Wakeup.by_due.query("due")) == []  # nothing left pending


def test_a_second_cart_while_enrolled_does_not_start_a_second_journey(stack: Stack) -> None:
    stack.event("never_buys", "cart_updated", **CART)
    stack.event("never_buys", "cart_updated", **CART)
    stack.advance(timedelta(hours=1))
    assert len(list(Enrollment.query("never_buys"))) == 1
    assert stack.outbox("never_buys") == [(at(timedelta(minutes=30)), "reminder_1", "email")]


def test_the_outbox_lists_its_sends_and_a_providers_send_keeps_its_id_unindexed(
    settings: Settings,
) -> None:
    sent: list[str] = []

    class Telegramish:  # a provider whose callbacks never name only its own id
        name = "email"

        def send(self, message: OutgoingMessage) -> SendResult:
            sent.append(message.message_id)
            return SendResult(provider_id=f"chat:{len(sent)}")

    for channels, who in ((None, "outboxed"), ({"email": Telegramish()}, "provided")):
        stack = Stack.build(START, channels=channels)
        stack.publish("abandoned_cart.yaml")
        stack.contact(who, email=f"{who}@example.com", first_name=who)
        stack.event(who, "cart_updated", **CART)
        stack.advance(timedelta(minutes=31))
    outboxed, provided = (messages.of_contact(who)[0] for who in ("outboxed", "provided"))
    assert (outboxed.via, outboxed.provider_id) == ("outbox", None)
    assert outboxed.provider_ref == f"outbox-{outboxed.message_id}"
    assert (provided.via, provided.provider_id, provided.provider_ref) == (None, None, "chat:1")
    listed = {m.message_id for m in messages.sent_via("outbox", 10)}
    assert outboxed.message_id in listed and provided.message_id not in listed
    [shown] = views.messages_of("provided")
    assert shown["via"] == "email"  # a provider's sender is named as its channel
