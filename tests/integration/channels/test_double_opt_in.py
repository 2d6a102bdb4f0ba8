"""SMS and WhatsApp double opt-in, through the HTTP API: a public identify that asks for texts
gets one confirmation text ("Reply YES to get texts from <shop>"), counted against the SMS
countries and the daily limit like any text; the YES (Twilio's inbound webhook) grants the
consent and proves the number."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.storage.models import Message
from tests.integration.channels.conftest import post_twilio
from tests.integration.ingest_helpers import contact_of, post

DE_PHONE = "+4915112345001"
DE_PHONE_2 = "+4915112345002"
FR_PHONE = "+33612345678"
INBOUND = "/webhooks/twilio/inbound"
AFTERNOON = datetime.now(UTC).replace(hour=13, minute=0, second=0, microsecond=0)


@pytest.fixture
def texts(providers: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Texts may go to Germany only, at most 1 a day; it is Germany's afternoon (no quiet
    hours) for the dispatcher."""
    monkeypatch.setenv("AUTOFUNNEL_SMS_COUNTRIES", "DE")
    monkeypatch.setenv("AUTOFUNNEL_DAILY_LIMITS", '{"sms": 1}')
    wiring.reset()
    return wiring.install(wiring.bootstrap(clock=lambda: AFTERNOON)).settings


def ask_for_texts(api: Client, visitor: str, phone: str, *channels: str) -> None:
    consents = {channel: True for channel in channels or ("sms",)}
    body = {"anonymousId": visitor, "traits": {"phone": phone, "consents": consents}}
    assert post(api, "/v1/identify", body).status_code == 200


def messages_to(contact_id: str) -> list[Message]:
    return [Message.get(key.message_id) for key in Message.by_contact.query(contact_id)]


def reply(api: Client, phone: str, text: str, sid: str) -> Any:
    params = {"MessageSid": sid, "From": phone, "To": "+15005550006", "Body": text}
    response = post_twilio(api, INBOUND, params)
    assert response.status_code == 200, response.body
    return response


def test_a_claimed_number_gets_one_confirmation_and_texts_only_after_yes(
    api: Client, admin_headers: dict[str, str], texts: Settings
) -> None:
    ask_for_texts(api, "v1", DE_PHONE, "sms", "whatsapp")
    visitor = contact_of(api, admin_headers, anonymous_id="v1")
    assert "sms" not in visitor["consents"] and "sms" not in visitor["addresses"]
    [confirmation] = messages_to(visitor["contact_id"])
    assert confirmation.status == "sent" and confirmation.address == DE_PHONE
    assert confirmation.content["text"].startswith("Reply YES to get texts from shop.example.")
    # Asking again the same day sends nothing more (and a stranger cannot loop one number).
    ask_for_texts(api, "v1", DE_PHONE)
    ask_for_texts(api, "v1b", DE_PHONE)
    assert len(messages_to(visitor["contact_id"])) == 1

    reply(api, DE_PHONE, "Yes", "SMyes")
    confirmed = contact_of(api, admin_headers, anonymous_id="v1")
    assert confirmed["consents"]["sms"]["granted"] is True
    assert confirmed["consents"]["whatsapp"]["granted"] is True  # both were asked for
    assert confirmed["addresses"]["sms"] == DE_PHONE
    [phone] = [i for i in confirmed["identities"] if i["kind"] == "phone"]
    assert phone["proof"] == "provider"  # the reply proved the number


def test_confirmations_count_against_the_daily_limit_and_the_countries(
    api: Client, admin_headers: dict[str, str], texts: Settings
) -> None:
    ask_for_texts(api, "v1", DE_PHONE)
    ask_for_texts(api, "v2", DE_PHONE_2)  # over today's limit of 1: held, not dropped
    ask_for_texts(api, "v3", FR_PHONE)  # France is not an SMS country: never sent
    statuses = {
        visitor: [
            m.status
            for m in messages_to(contact_of(api, admin_headers, anonymous_id=visitor)["contact_id"])
        ]
        for visitor in ("v1", "v2", "v3")
    }
    assert statuses["v1"] == ["sent"]
    assert statuses["v2"] == ["held"]
    assert statuses["v3"] in (["failed"], ["skipped"])
    held = api.http.get("/admin/held", headers=admin_headers).json_body
    assert [m["address"] for m in held["held"]] == [DE_PHONE_2]


def test_no_confirmation_after_a_stop(
    api: Client, admin_headers: dict[str, str], texts: Settings
) -> None:
    ask_for_texts(api, "v1", DE_PHONE)
    reply(api, DE_PHONE, "STOP", "SMstop")
    contact_id = contact_of(api, admin_headers, anonymous_id="v1")["contact_id"]
    ask_for_texts(api, "v1", DE_PHONE)
    assert len(messages_to(contact_id)) == 1
    assert contact_of(api, admin_headers, anonymous_id="v1")["consents"]["sms"]["granted"] is False
