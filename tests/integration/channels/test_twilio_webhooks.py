"""Twilio's status and inbound webhooks: signatures, statuses, and the opt-out keywords."""

from __future__ import annotations

from chalice.test import Client

from chalicelib.channels import reachability
from chalicelib.channels.registry import CHANNELS
from chalicelib.channels.routing import choose_route
from chalicelib.storage.models import Contact, Identity, Message
from chalicelib.tracking.provider_auth import request_urls
from tests.integration.channels.conftest import (
    HOST,
    events_of,
    logged,
    make_contact,
    make_message,
    post_twilio,
    sign_twilio,
)

PHONE = "+12125550100"
STATUS = "/webhooks/twilio/status"
INBOUND = "/webhooks/twilio/inbound"


def status(sid: str = "SM1", state: str = "delivered", **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "MessageStatus": state,
        "AccountSid": "AC1",
        "To": PHONE,
        "From": "+14155550199",
        **extra,
    }


def inbound(body: str, sid: str = "SMin1", sender: str = PHONE) -> dict[str, str]:
    return {"MessageSid": sid, "From": sender, "To": "+14155550199", "Body": body, "NumMedia": "0"}


def sms_route(contact_id: str) -> tuple[str, str] | None:
    contact = reachability.load(contact_id)
    return choose_route(
        ["sms", "email"], contact.addresses, contact.consents, contact.unreachable, CHANNELS
    )


def test_delivered_status_is_recorded_once(api: Client, providers) -> None:
    make_contact("c1", phone=PHONE)
    make_message("msg-1", "c1", "sms", PHONE, provider_id="SM1")
    for _ in range(2):  # Twilio retries; Event Streams deliver at least once
        assert post_twilio(api, STATUS, status()).status_code == 200
    message = Message.get("msg-1")
    assert message.status == "delivered" and len(message.status_history) == 1
    assert len(logged("provider:SM1")) == 1


def test_a_callback_that_beats_the_provider_id_finds_the_message_by_our_id(
    api: Client, providers
) -> None:
    make_contact("c1", phone=PHONE)
    make_message("msg-1", "c1", "sms", PHONE, provider_id=None)  # "sent" not recorded yet
    assert post_twilio(api, f"{STATUS}?m=msg-1", status()).status_code == 200
    assert Message.get("msg-1").status == "delivered"
    # The query string is part of what Twilio signs: moving the signature elsewhere fails.
    moved = post_twilio(
        api, f"{STATUS}?m=msg-2", status(sid="SM2"), signed_url=f"https://{HOST}{STATUS}?m=msg-1"
    )
    assert moved.status_code == 403


def test_callbacks_for_unknown_messages_change_nothing(api: Client, providers) -> None:
    make_contact("c1", phone=PHONE)
    make_message("msg-1", "c1", "sms", PHONE, provider_id="SM1")
    assert post_twilio(api, STATUS, status(sid="SMx")).status_code == 200
    assert Message.get("msg-1").status == "sent"


def test_forged_or_wrong_url_signatures_are_403_and_store_nothing(api: Client, providers) -> None:
    make_contact("c1", phone=PHONE)
    make_message("msg-1", "c1", "sms", PHONE, provider_id="SM1")
    params = status()
    url = f"https://{HOST}{STATUS}"
    attempts = [
        {"token": "an-old-rotated-token"},
        {"signed_url": f"https://evil.example{STATUS}"},
        {"signature": ""},
        {"signature": sign_twilio("twilio-auth-token", url, {**params, "MessageStatus": "failed"})},
    ]
    for overrides in attempts:
        assert post_twilio(api, STATUS, params, **overrides).status_code == 403, overrides
    assert logged("provider:SM1") == []
    assert Message.get("msg-1").status == "sent"


def test_not_configured_fails_closed(api: Client, settings) -> None:
    make_contact("c1", phone=PHONE)
    make_message("msg-1", "c1", "sms", PHONE, provider_id="SM1")
    response = post_twilio(api, STATUS, status())
    assert response.status_code == 503
    assert "TWILIO_AUTH_TOKEN" in response.json_body["error"]
    assert logged("provider:SM1") == []


def test_the_url_is_rebuilt_from_host_and_the_stage_path() -> None:
    context = {"path": "/api/webhooks/twilio/status", "resourcePath": STATUS}
    headers = {"host": "abc123.execute-api.us-east-1.amazonaws.com"}
    assert request_urls(headers, context, None, "https://hooks.shop.example", STATUS) == [
        "https://abc123.execute-api.us-east-1.amazonaws.com/api/webhooks/twilio/status",
        "https://hooks.shop.example/webhooks/twilio/status",
    ]


def test_signature_over_the_public_url_is_accepted(api: Client, providers) -> None:
    make_contact("c1", phone=PHONE)
    make_message("msg-1", "c1", "sms", PHONE, provider_id="SM1")
    response = post_twilio(api, STATUS, status(), signed_url=f"https://af.example.test{STATUS}")
    assert response.status_code == 200


def test_undeliverable_number_bounces_and_routing_moves_on(api: Client, providers) -> None:
    make_contact("c1", phone=PHONE, email="ann@example.com")
    make_message("msg-1", "c1", "sms", PHONE, provider_id="SM1")
    response = post_twilio(api, STATUS, status(state="undelivered", ErrorCode="30006"))
    assert response.status_code == 200
    assert Message.get("msg-1").status == "bounced"
    assert Identity.get(f"phone:{PHONE}").unreachable
    assert sms_route("c1") == ("email", "ann@example.com")


def test_stop_revokes_sms_consent_and_later_sms_is_refused(api: Client, providers) -> None:
    make_contact("c1", phone=PHONE, email="ann@example.com")
    make_message("msg-1", "c1", "sms", PHONE, provider_id="SM1")
    assert sms_route("c1") == ("sms", PHONE)
    response = post_twilio(api, INBOUND, inbound(" stop "))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml"
    assert Contact.get("c1").consents.as_dict()["sms"]["granted"] is False
    assert events_of("c1") == [("unsubscribed", {"channel": "sms", "keyword": "STOP"})]
    assert Message.get("msg-1").status == "unsubscribed"
    assert sms_route("c1") == ("email", "ann@example.com")
    # Replaying the webhook changes nothing more.
    post_twilio(api, INBOUND, inbound(" stop "))
    assert len(events_of("c1")) == 1
    # START opts back in.
    post_twilio(api, INBOUND, inbound("START", sid="SMin2"))
    assert Contact.get("c1").consents.as_dict()["sms"]["granted"] is True
    assert [name for name, _ in events_of("c1")] == ["unsubscribed", "subscribed"]
    assert sms_route("c1") == ("sms", PHONE)


def test_whatsapp_stop_revokes_whatsapp_and_sms(api: Client, providers) -> None:
    make_contact("c1", phone=PHONE)
    post_twilio(api, INBOUND, inbound("Unsubscribe", sender=f"whatsapp:{PHONE}"))
    consents = Contact.get("c1").consents.as_dict()
    assert consents["sms"]["granted"] is False and consents["whatsapp"]["granted"] is False


def test_help_gets_the_help_text(api: Client, providers) -> None:
    make_contact("c1", phone=PHONE)
    response = post_twilio(api, INBOUND, inbound("help"))
    assert "<Message>Shop: reply STOP to opt out.</Message>" in response.body.decode()
    assert events_of("c1") == []


def test_a_reply_marks_the_latest_message_replied_and_is_an_event(api: Client, providers) -> None:
    from datetime import UTC, datetime, timedelta

    make_contact("c1", phone=PHONE)
    earlier = datetime.now(UTC) - timedelta(days=1)
    make_message("msg-old", "c1", "sms", PHONE, provider_id="SM0", created_at=earlier)
    make_message("msg-new", "c1", "sms", PHONE, provider_id="SM1")
    make_message("msg-mail", "c1", "email", "ann@example.com")
    assert post_twilio(api, INBOUND, inbound("Is the sale still on?")).status_code == 200
    replied = Message.get("msg-new")
    assert replied.status == "replied"
    assert replied.status_history[-1]["text"] == "Is the sale still on?"
    assert Message.get("msg-old").status == "sent"
    assert events_of("c1") == [
        ("message_received", {"channel": "sms", "text": "Is the sale still on?"})
    ]


def test_inbound_with_a_bad_signature_changes_no_consent(api: Client, providers) -> None:
    make_contact("c1", phone=PHONE)
    response = post_twilio(api, INBOUND, inbound("STOP"), token="guessed")
    assert response.status_code == 403
    assert Contact.get("c1").consents.as_dict() == {}
    assert events_of("c1") == []
