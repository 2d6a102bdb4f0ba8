"""SendGrid's signed event webhook: only genuine events count, each once."""

from __future__ import annotations

import time

from chalice.test import Client

from chalicelib.channels import reachability
from chalicelib.channels.registry import CHANNELS
from chalicelib.channels.routing import choose_route
from chalicelib.storage.models import Contact, Identity, Message
from tests.integration.channels.conftest import (
    events_of,
    logged,
    make_contact,
    make_message,
    post_sendgrid,
)


def open_event(event_id: str = "ev-open-1", **extra) -> dict:
    return {
        "email": "ann@example.com",
        "timestamp": 1767225600,
        "event": "open",
        "sg_event_id": event_id,
        "sg_message_id": "sg-abc.filter0001",
        "message_id": "msg-1",
        **extra,
    }


def test_a_signed_open_marks_the_message_opened_once(api: Client, providers, sendgrid_key) -> None:
    make_contact("c1", email="ann@example.com")
    make_message("msg-1", "c1", "email", "ann@example.com", provider_id="sg-abc")
    for _ in range(3):  # SendGrid redelivers the same events
        response = post_sendgrid(api, sendgrid_key, [open_event()])
        assert response.status_code == 200
    message = Message.get("msg-1")
    assert message.status == "opened"
    assert [entry["status"] for entry in message.status_history] == ["opened"]
    assert message.status_history[0]["at"] == "2026-01-01T00:00:00+00:00"  # SendGrid's time
    assert len(logged("message:msg-1")) == 1  # the redeliveries were duplicates


def test_events_find_the_message_by_sendgrid_id_too(api: Client, providers, sendgrid_key) -> None:
    make_contact("c1", email="ann@example.com")
    make_message("msg-1", "c1", "email", "ann@example.com", provider_id="sg-abc")
    delivered = open_event("ev-d", event="delivered")
    del delivered["message_id"]
    assert post_sendgrid(api, sendgrid_key, [delivered]).status_code == 200
    assert Message.get("msg-1").status == "delivered"


def test_forged_stale_and_malformed_signatures_are_403_and_store_nothing(
    api: Client, providers, sendgrid_key
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.integration.channels.conftest import sign_sendgrid

    make_contact("c1", email="ann@example.com")
    make_message("msg-1", "c1", "email", "ann@example.com")
    now = str(int(time.time()))
    other_key = ec.generate_private_key(ec.SECP256R1())
    import json

    body = json.dumps([open_event()])
    attempts = {
        "forged": {"signature": sign_sendgrid(other_key, now, body)},
        "stale": {"timestamp": str(int(time.time()) - 3600)},
        "not base64": {"signature": "%%%not-base64%%%"},
        "missing": {"signature": ""},
    }
    for name, overrides in attempts.items():
        response = post_sendgrid(api, sendgrid_key, [open_event()], **overrides)
        assert response.status_code == 403, name
    # A genuine signature over a different body does not cover a tampered body either.
    tampered = post_sendgrid(
        api,
        sendgrid_key,
        [open_event()],
        timestamp=now,
        signature=sign_sendgrid(sendgrid_key, now, "[]"),
    )
    assert tampered.status_code == 403
    assert logged("message:msg-1") == []
    assert Message.get("msg-1").status == "sent"


def test_not_configured_fails_closed(api: Client, settings, sendgrid_key) -> None:
    make_contact("c1", email="ann@example.com")
    make_message("msg-1", "c1", "email", "ann@example.com")
    response = post_sendgrid(api, sendgrid_key, [open_event()])
    assert response.status_code == 503
    assert "SENDGRID_WEBHOOK_PUBLIC_KEY" in response.json_body["error"]
    assert logged("message:msg-1") == []
    assert Message.get("msg-1").status == "sent"


def test_bounce_marks_the_address_dead_and_routing_skips_it(
    api: Client, providers, sendgrid_key
) -> None:
    make_contact("c1", email="ann@example.com", phone="+12125550100")
    make_message("msg-1", "c1", "email", "ann@example.com")
    bounce = open_event("ev-b", event="bounce", type="bounce", reason="550 no such user")
    assert post_sendgrid(api, sendgrid_key, [bounce]).status_code == 200
    assert Identity.get("email:ann@example.com").unreachable
    assert Message.get("msg-1").status == "bounced"
    contact = reachability.load("c1")
    route = choose_route(
        ["email", "sms"], contact.addresses, contact.consents, contact.unreachable, CHANNELS
    )
    assert route == ("sms", "+12125550100")


def test_spam_report_opts_out_of_email(api: Client, providers, sendgrid_key) -> None:
    make_contact("c1", email="ann@example.com")
    make_message("msg-1", "c1", "email", "ann@example.com")
    spam = open_event("ev-s", event="spamreport")
    assert post_sendgrid(api, sendgrid_key, [spam, spam]).json_body == {
        "received": 2,
        "stored": 1,
        "duplicates": 1,
    }
    consents = Contact.get("c1").consents.as_dict()
    assert consents["email"]["granted"] is False and consents["email"]["source"] == "sendgrid"
    [(name, properties)] = events_of("c1")
    assert (name, properties["channel"]) == ("unsubscribed", "email")
    assert Message.get("msg-1").status == "unsubscribed"
