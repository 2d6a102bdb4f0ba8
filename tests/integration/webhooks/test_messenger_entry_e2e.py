"""Story 6 end to end on the local stack (DynamoDB Local, the real runtime, the outbox, a
controllable clock), driven only through the HTTP routes a site, Telegram and Shopify call:

a visitor browses with the snippet and taps "Get the guide in Telegram" -> the bot's /start
with the link's token puts the chat on that visitor's contact -> the lead-magnet funnel sends
the guide to Telegram (outbox) -> a reply button and a typed answer give us her email ->
a later Shopify orders/create for that email converts the funnel (and starts the core offer).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from autofunnel.timetravel import Stack
from chalicelib.config import Settings
from chalicelib.storage import messages
from chalicelib.storage.models import Enrollment
from tests.conftest import WRITE_KEY
from tests.integration.webhooks.conftest import (
    SECRETS,
    b64_hmac,
    body_of,
    find_contact,
    fixture,
    post_signed,
    post_telegram,
    visitor_link,
)

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin
VISITOR = "3f2b8c1e-5d4a-4e2b-9c1a-7b6d5e4f3a21"
CHAT = 427913004


@pytest.fixture
def stack(settings: Settings) -> Stack:
    """The application the routes append for and whose worker handles the log."""
    stack = Stack.build(START)
    stack.publish("telegram_guide.yaml")
    stack.publish("product_matrix/core_offer.yaml")
    return stack


def at(minutes: float = 0, days: float = 0) -> datetime:
    return START + timedelta(minutes=minutes, days=days)


def telegram_update(update_id: int, when: datetime, **message: Any) -> dict[str, Any]:
    user = {"id": CHAT, "is_bot": False, "first_name": "Olga", "language_code": "de"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": user,
            "chat": {"id": CHAT, "first_name": "Olga", "type": "private"},
            "date": int(when.timestamp()),
            **message,
        },
    }


def sent(contact_id: str) -> list[tuple[str, str, str]]:
    """(minutes after START, step, channel) of what went out, in order."""
    return [
        (str((m.created_at - START) // timedelta(minutes=1)), str(m.step_id), m.channel)
        for m in messages.of_contact(contact_id)
        if m.status not in ("pending", "skipped", "failed")
    ]


def test_site_visitor_to_telegram_guide_to_shopify_order(
    api: Client, admin_headers: dict[str, str], stack: Stack
) -> None:
    # 1. The visitor browses with the snippet and taps the Telegram button.
    calls = [
        {"type": "page", "properties": {"url": "https://shop.example.com/guide"}},
        {"type": "track", "event": "telegram_cta_clicked", "properties": {}},
    ]
    batch = [
        {**call, "anonymousId": VISITOR, "messageId": f"m-{n}", "timestamp": START.isoformat()}
        for n, call in enumerate(calls)
    ]
    tracked = api.http.post(
        "/v1/batch",
        headers={"Content-Type": "text/plain"},
        body=body_of({"batch": batch, "writeKey": WRITE_KEY}),
    )
    assert tracked.status_code == 200, tracked.body
    link = visitor_link(api, VISITOR)["links"]["telegram"]
    token = link.removeprefix("https://t.me/shop_bot?start=")
    visitor = find_contact(api, admin_headers, anonymous_id=VISITOR)
    assert visitor is not None
    contact_id = visitor["contact_id"]
    assert [e["funnel"] for e in visitor["enrollments"]] == ["telegram_guide"]

    # 2. Two minutes later she presses Start in Telegram: the chat joins her contact and the
    #    waiting funnel sends the guide there (no bot token configured: the outbox).
    stack.advance(timedelta(minutes=2))
    started = telegram_update(
        1,
        at(2),
        text=f"/start {token}",
        entities=[{"offset": 0, "length": 6, "type": "bot_command"}],
    )
    assert post_telegram(api, started).status_code == 200
    assert find_contact(api, admin_headers, telegram=str(CHAT))["contact_id"] == contact_id
    assert sent(contact_id) == [("2", "guide", "telegram")]
    [guide] = messages.of_contact(contact_id)
    assert guide.via == "outbox" and guide.address == str(CHAT)
    assert guide.content["text"] == "Hi Olga! Here is your guide 📘"
    assert {"text": "Email me the printable checklist", "id": "email_me"} in guide.content[
        "buttons"
    ]

    # 3. She presses "Email me the checklist", mistypes, then gives her address.
    stack.advance(timedelta(minutes=3))
    press = fixture("telegram/callback_query.json")
    press["callback_query"]["from"]["id"] = CHAT
    press["callback_query"]["message"]["chat"]["id"] = CHAT
    assert post_telegram(api, press).json_body["method"] == "answerCallbackQuery"
    stack.advance(timedelta(minutes=1))
    post_telegram(api, telegram_update(3, at(6), text="olga at example dot com"))
    stack.advance(timedelta(minutes=1))
    post_telegram(api, telegram_update(4, at(7), text="Olga@Example.com"))
    assert sent(contact_id)[1:] == [
        ("5", "ask_email", "telegram"),
        ("6", "email_again", "telegram"),
        ("7", "checklist", "email"),
    ]
    olga = find_contact(api, admin_headers, email="olga@example.com")
    assert olga is not None and olga["contact_id"] == contact_id
    assert olga["attributes"]["email"] == "olga@example.com"
    ask = next(m for m in messages.of_contact(contact_id) if m.step_id == "ask_email")
    assert ask.status == "replied"  # her answer is the reply to the question

    # 4. The next day's tip; two days in, she buys the $7 mini-course in the Shopify store.
    stack.advance(timedelta(days=2))
    assert sent(contact_id)[-1] == (str(24 * 60 + 7), "tip", "telegram")
    order = fixture("shopify/orders_create.json")
    order.update(
        email="Olga@example.com",
        contact_email="olga@example.com",
        created_at=at(days=2, minutes=5).isoformat(),
        processed_at=at(days=2, minutes=5).isoformat(),
        total_price="7.00",
        note_attributes=[{"name": "tier", "value": "tripwire"}],
    )
    order["customer"] = {**order["customer"], "email": "olga@example.com", "first_name": "Olga"}
    raw = body_of(order)
    bought = post_signed(
        api,
        "/webhooks/shopify",
        raw,
        {
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": b64_hmac(SECRETS["SHOPIFY_WEBHOOK_SECRET"], raw),
            "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        },
    )
    assert bought.status_code == 200, bought.body

    statuses = {row.funnel: row.status for row in Enrollment.query(contact_id)}
    assert statuses == {"telegram_guide": "converted", "core_offer": "active"}
    guide_run = next(r for r in Enrollment.query(contact_id) if r.funnel == "telegram_guide")
    assert guide_run.state["value"] == 7.0
    buyer = find_contact(api, admin_headers, email="olga@example.com")
    assert buyer is not None
    assert (buyer["orders_count"], buyer["total_spent"]) == (1, 7)
    kinds = {identity["kind"] for identity in buyer["identities"]}
    assert kinds == {"anon", "telegram", "email"}
    stack.advance(timedelta(days=3))  # no tripwire message after the purchase
    assert "tripwire" not in [step for _, step, _ in sent(contact_id)]
