"""deliver(): one send decision carried out end to end - routing, quiet hours, tracked links,
the real SDKs against local stand-ins, fallback and dead-address marking."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

from chalicelib.channels.delivery import deliver
from chalicelib.channels.ratelimit import RateLimiter
from chalicelib.channels.registry import build_channels
from chalicelib.config import Settings
from chalicelib.storage.models import Identity
from chalicelib.tracking.tokens import read_click_token
from tests.integration.channels.conftest import make_contact, make_message, post_twilio
from tests.provider_stub import ProviderStub, Reply, running

PHONE = "+12125550100"  # New York
AFTERNOON = datetime(2026, 1, 15, 18, tzinfo=UTC)  # 13:00 in New York
NIGHT = datetime(2026, 1, 15, 3, tzinfo=UTC)  # 22:00 in New York


@pytest.fixture
def stub() -> Iterator[ProviderStub]:
    with running() as server:
        yield server


@pytest.fixture
def live(settings: Settings, stub: ProviderStub) -> Settings:
    """Settings whose providers all point at the local stand-in."""
    return dataclasses.replace(
        settings,
        providers={
            **settings.providers,
            "TWILIO_ACCOUNT_SID": "AC1",
            "TWILIO_AUTH_TOKEN": "twilio-auth-token",
            "TWILIO_FROM_NUMBER": "+14155550199",
            "TWILIO_API_BASE_URL": stub.url,
            "SENDGRID_API_KEY": "SG.key",
            "SENDGRID_FROM_EMAIL": "shop@example.com",
            "SENDGRID_API_HOST": stub.url,
            "TELEGRAM_BOT_TOKEN": "1:tok",
            "TELEGRAM_API_BASE_URL": stub.url,
            "META_PAGE_ACCESS_TOKEN": "page",
            "META_GRAPH_API_URL": stub.url,
        },
    )


def content(channel: str) -> dict:
    if channel == "email":
        return {"subject": "Your cart", "html": '<a href="https://shop.example/cart">Cart</a>'}
    return {"text": "Your cart is waiting: https://shop.example/cart"}


def send(live: Settings, order: list[str], now: datetime = AFTERNOON, message_id: str = "msg-1"):
    return deliver(
        build_channels(live),
        settings=live,
        message_id=message_id,
        contact_id="c1",
        channels_in_order=order,
        render=content,
        now=now,
        funnel="cart",
        step_id="reminder-1",
        limiter=RateLimiter({}),
        sleep=lambda seconds: None,
    )


def test_sms_goes_out_through_twilio_with_a_tracked_link(
    live: Settings, stub: ProviderStub
) -> None:
    make_contact("c1", phone=PHONE)
    stub.reply(Reply(201, {"sid": "SM9", "status": "queued", "num_segments": "1"}))
    outcome = send(live, ["sms"])
    assert (outcome.status, outcome.channel, outcome.address, outcome.provider_id) == (
        "sent",
        "sms",
        PHONE,
        "SM9",
    )
    form = stub.requests[0].form()
    assert form["StatusCallback"] == ["https://af.example.test/webhooks/twilio/status?m=msg-1"]
    [body] = form["Body"]
    assert body.startswith("Your cart is waiting: https://af.example.test/r/")
    token = body.rsplit("/r/", 1)[1]
    assert (
        read_click_token(live.signing_secret, token, AFTERNOON.timestamp()).url
        == "https://shop.example/cart"
    )
    assert outcome.content["text"] == body


def test_quiet_hours_defer_sms_to_the_morning(live: Settings, stub: ProviderStub) -> None:
    make_contact("c1", phone=PHONE)
    outcome = send(live, ["sms"], now=NIGHT)
    assert outcome.status == "deferred"
    assert outcome.not_before == datetime(2026, 1, 15, 13, tzinfo=UTC)  # 08:00 New York
    assert stub.requests == []


def test_stop_stops_sms_and_one_click_unsubscribe_stops_email(
    api: Client, live: Settings, stub: ProviderStub, monkeypatch
) -> None:
    make_contact("c1", phone=PHONE, email="ann@example.com")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "twilio-auth-token")
    from chalicelib import wiring

    wiring.reset()
    wiring.storage()
    make_message("msg-0", "c1", "sms", PHONE, provider_id="SM0")
    inbound = {"MessageSid": "SMin", "From": PHONE, "To": "+14155550199", "Body": "STOP"}
    assert post_twilio(api, "/webhooks/twilio/inbound", inbound).status_code == 200

    stub.reply(Reply(202, None, {"X-Message-Id": "sg-1"}))
    outcome = send(live, ["sms", "email"], message_id="msg-2")
    assert (outcome.status, outcome.channel, outcome.provider_id) == ("sent", "email", "sg-1")
    [request] = stub.requests  # nothing went to Twilio
    assert request.path == "/v3/mail/send"
    mail = request.json()
    unsubscribe = mail["headers"]["List-Unsubscribe"].strip("<>")
    assert mail["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe.startswith("https://af.example.test/u/")
    html = mail["content"][0]["value"]
    assert 'href="https://af.example.test/r/' in html  # the shop link is tracked
    assert f'href="{unsubscribe}"' in html  # the unsubscribe link is not

    # The person uses the one-click unsubscribe the mailbox shows.
    response = api.http.post(
        unsubscribe.removeprefix(live.public_url),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body="List-Unsubscribe=One-Click",
    )
    assert response.status_code == 200
    assert send(live, ["sms", "email"], message_id="msg-3").status == "no_route"
    assert len(stub.requests) == 1


def test_invalid_number_is_marked_dead_and_email_is_used(
    live: Settings, stub: ProviderStub
) -> None:
    make_contact("c1", phone=PHONE, email="ann@example.com")
    stub.reply(
        Reply(400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}),
        Reply(202, None, {"X-Message-Id": "sg-2"}),
    )
    outcome = send(live, ["sms", "email"])
    assert (outcome.status, outcome.channel) == ("sent", "email")
    assert outcome.skipped[0][0] == "sms" and "21211" in outcome.skipped[0][1]
    assert Identity.get(f"phone:{PHONE}").unreachable
    stub.reply(Reply(202, None, {"X-Message-Id": "sg-3"}))
    assert send(live, ["sms", "email"], message_id="msg-2").channel == "email"
    assert [r.path for r in stub.requests].count("/v3/mail/send") == 2
    assert len(stub.requests) == 3  # Twilio was not tried again


def test_messenger_outside_its_window_falls_back_to_telegram(
    live: Settings, stub: ProviderStub
) -> None:
    make_contact("c1", messenger="psid-1", telegram="777")
    Identity.get("messenger:psid-1").update(
        actions=[Identity.window_until.set(AFTERNOON - timedelta(days=2))]
    )
    stub.reply(Reply(200, {"ok": True, "result": {"message_id": 5}}))
    outcome = send(live, ["messenger", "telegram"])
    assert (outcome.status, outcome.channel, outcome.provider_id) == ("sent", "telegram", "777:5")
    assert [r.path for r in stub.requests] == ["/bot1:tok/sendMessage"]
    assert outcome.skipped[0][0] == "messenger"
    assert not Identity.get("messenger:psid-1").unreachable


def test_a_provider_outage_asks_to_retry_later(live: Settings, stub: ProviderStub) -> None:
    make_contact("c1", telegram="777")
    stub.default = Reply(502, {"ok": False, "description": "Bad Gateway"})
    outcome = send(live, ["telegram"])
    assert outcome.status == "retry" and outcome.not_before is not None
    assert outcome.not_before > AFTERNOON
    assert len(stub.requests) == 3  # bounded retries


def test_no_address_is_no_route(live: Settings) -> None:
    make_contact("c1", email="ann@example.com")
    assert send(live, ["telegram", "whatsapp"]).status == "no_route"
