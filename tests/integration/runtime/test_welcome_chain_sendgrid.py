"""The welcome chain end to end through the real SendGrid SDK (against a local stand-in) and the
signed SendGrid event webhook: opening email 1 pulls email 2 forward to an hour after the open."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client
from cryptography.hazmat.primitives.asymmetric import ec

from autofunnel.timetravel import Stack
from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.storage import messages
from chalicelib.storage.models import Message
from tests.integration.channels.conftest import post_sendgrid, public_key_b64
from tests.provider_stub import ProviderStub, Reply, running

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin


@pytest.fixture
def sendgrid() -> Iterator[ProviderStub]:
    with running() as server:
        server.default = lambda request: Reply(
            202, None, {"X-Message-Id": f"sg-{len(server.requests)}"}
        )
        yield server


@pytest.fixture
def stack(
    settings: Settings, sendgrid: ProviderStub, monkeypatch: pytest.MonkeyPatch
) -> tuple[Stack, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", public_key_b64(key))
    wiring.reset()
    live = dataclasses.replace(
        wiring.storage(),
        site_url="https://shop.example",
        providers={
            **wiring.storage().providers,
            "SENDGRID_API_KEY": "SG.key",
            "SENDGRID_FROM_EMAIL": "news@shop.example",
            "SENDGRID_API_HOST": sendgrid.url,
        },
    )
    stack = Stack.build(START, live)  # the application the webhooks' entries reach
    stack.publish("welcome_chain.yaml")
    stack.contact("anna", email="anna@example.com", first_name="Anna")
    return stack, key


def sent_mails(server: ProviderStub) -> list[dict]:
    return [r.json() for r in server.requests if r.path == "/v3/mail/send"]


def test_an_open_pulls_the_next_email_forward(
    stack: tuple[Stack, ec.EllipticCurvePrivateKey], sendgrid: ProviderStub, api: Client
) -> None:
    stack_, key = stack
    stack_.event("anna", "lead_captured", source="popup")
    stack_.advance(timedelta(days=1, minutes=1))
    (first,) = sent_mails(sendgrid)
    assert first["personalizations"][0]["to"] == [{"email": "anna@example.com"}]
    assert first["subject"] == "Welcome, Anna: your guide is inside"
    message_id = first["custom_args"]["message_id"]
    html = next(c["value"] for c in first["content"] if c["type"] == "text/html")
    assert "https://af.example.test/r/" in html  # the guide link is tracked
    assert "shop.example/guide.pdf" not in html
    assert "https://af.example.test/u/" in html  # the real unsubscribe link, signed
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Anna opens email 1 two hours after it arrived: SendGrid tells us, signed.
    stack_.advance(timedelta(hours=2))
    opened_at = int(stack_.clock().timestamp())
    event = {
        "email": "anna@example.com",
        "event": "open",
        "timestamp": opened_at,
        "sg_event_id": "ev-1",
        "sg_message_id": "sg-1.x",
        "message_id": message_id,
    }
    response = post_sendgrid(api, key, [event])
    assert response.status_code == 200, response.body
    assert post_sendgrid(api, key, [event]).status_code == 200  # SendGrid retries: no effect

    stack_.advance(timedelta(hours=1, minutes=1))
    subjects = [mail["subject"] for mail in sent_mails(sendgrid)]
    assert subjects == [
        "Welcome, Anna: your guide is inside",
        "The three mistakes everyone makes",  # one hour after the open, not on day 3
    ]
    assert (
        json.loads(json.dumps(stack_.outbox("anna")))[1][0]
        == (START + timedelta(days=1, hours=3, minutes=1)).isoformat()
    )


def test_an_event_naming_only_sendgrids_id_finds_the_message_sent(
    stack: tuple[Stack, ec.EllipticCurvePrivateKey], sendgrid: ProviderStub, api: Client
) -> None:
    """SendGrid's ids are indexed (an event without our custom args names only its id); the
    record is not listed in the outbox, which only the outbox's sends enter."""
    stack_, key = stack
    stack_.event("anna", "lead_captured", source="popup")
    stack_.advance(timedelta(days=1, minutes=1))
    (first,) = sent_mails(sendgrid)
    message = Message.get(first["custom_args"]["message_id"])
    assert (message.provider_id, message.via) == ("sg-1", None)
    assert message.message_id not in {m.message_id for m in messages.sent_via("outbox", 10)}

    delivered = {
        "email": "anna@example.com",
        "event": "delivered",
        "timestamp": int(stack_.clock().timestamp()),
        "sg_event_id": "ev-d",
        "sg_message_id": "sg-1.filter0001",
    }
    assert post_sendgrid(api, key, [delivered]).status_code == 200
    stack_.drain()
    assert Message.get(message.message_id).status == "delivered"
