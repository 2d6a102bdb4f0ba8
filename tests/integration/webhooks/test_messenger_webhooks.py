"""Telegram and Meta bot webhooks over HTTP: deep links from the site, messages, buttons,
opt-outs, the 24-hour window; signatures, replays and updates that are not mapped."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.storage.models import Identity
from tests.integration.channels.conftest import make_message
from tests.integration.webhooks.conftest import (
    SECRETS,
    body_of,
    browse,
    find_contact,
    fixture,
    hex_hmac,
    names,
    post_meta,
    post_signed,
    post_telegram,
    unset,
    visitor_link,
)

CHAT = "427913004"
PSID = "6789012345678901"


def start(payload: str = "", update_id: int = 583950001) -> dict[str, Any]:
    update = fixture("telegram/start.json")
    update["update_id"] = update_id
    if payload:
        update["message"]["text"] = f"/start {payload}"
    return update


def latest(contact: dict[str, Any], name: str) -> dict[str, Any]:
    return next(event for event in contact["timeline"] if event["name"] == name)


# --- Telegram --------------------------------------------------------------------------------


def test_start_with_the_sites_deep_link_puts_the_chat_on_the_visitors_contact(
    api: Client, admin_headers: dict[str, str]
) -> None:
    visitor = str(uuid.uuid4())
    browse(api, visitor, "telegram_cta_clicked")
    link = visitor_link(api, visitor)
    token = link["token"]
    assert link["links"]["telegram"] == f"https://t.me/shop_bot?start={token}"
    assert len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)

    response = post_telegram(api, start(token))
    assert response.status_code == 200, response.body
    assert response.json_body["stored"] == ["identify", "messenger_started", "channel_linked"]

    contact = find_contact(api, admin_headers, telegram=CHAT)
    assert contact is not None
    assert contact == find_contact(api, admin_headers, anonymous_id=visitor)
    assert {"page_viewed", "telegram_cta_clicked", "messenger_started", "channel_linked"} <= set(
        names(contact)
    )
    assert latest(contact, "messenger_started")["properties"] == {
        "channel": "telegram",
        "bot": "shop_bot",
        "linked": True,
    }
    assert latest(contact, "channel_linked")["properties"] == {"channel": "telegram"}
    assert contact["attributes"]["first_name"] == "Olga"
    assert contact["attributes"]["telegram_username"] == "olga_k"
    assert contact["consents"]["telegram"]["granted"] is True
    assert "subscribed" in names(contact)


def test_a_replayed_update_is_stored_once(api: Client, admin_headers: dict[str, str]) -> None:
    first = post_telegram(api, fixture("telegram/text.json"))
    again = post_telegram(api, fixture("telegram/text.json"))
    assert first.json_body["stored"] == ["message_received"]
    assert again.json_body == {"stored": [], "duplicates": 1}
    contact = find_contact(api, admin_headers, telegram=CHAT)
    assert contact is not None
    assert names(contact).count("message_received") == 1
    assert latest(contact, "message_received")["properties"]["text"] == "GUIDE please"


def test_a_reply_marks_our_last_telegram_message_replied(
    api: Client, admin_headers: dict[str, str]
) -> None:
    post_telegram(api, start())
    contact = find_contact(api, admin_headers, telegram=CHAT)
    assert contact is not None
    sent_at = datetime(2024, 3, 4, 9, 3, tzinfo=UTC)  # before the reply (09:05)
    message = make_message("m-guide", contact["contact_id"], "telegram", CHAT, created_at=sent_at)
    post_telegram(api, fixture("telegram/text.json"))
    message.refresh()
    assert message.status == "replied"
    assert message.status_history[-1]["text"] == "GUIDE please"


def test_a_button_press_becomes_button_clicked_and_is_answered(
    api: Client, admin_headers: dict[str, str]
) -> None:
    response = post_telegram(api, fixture("telegram/callback_query.json"))
    assert response.status_code == 200
    assert response.json_body == {
        "method": "answerCallbackQuery",
        "callback_query_id": "1837883432987656273",
    }
    contact = find_contact(api, admin_headers, telegram=CHAT)
    assert contact is not None
    assert latest(contact, "button_clicked")["properties"] == {
        "channel": "telegram",
        "button": "email_me",
        "message_id": "3",
    }


@pytest.mark.parametrize("update", ["telegram/stop.json", "telegram/my_chat_member_kicked.json"])
def test_stop_or_blocking_the_bot_revokes_telegram_consent(
    api: Client, admin_headers: dict[str, str], update: str
) -> None:
    post_telegram(api, start())
    assert post_telegram(api, fixture(update)).status_code == 200
    assert post_telegram(api, fixture(update)).status_code == 200  # a replay changes nothing
    contact = find_contact(api, admin_headers, telegram=CHAT)
    assert contact is not None
    assert contact["consents"]["telegram"]["granted"] is False
    unsubscribed = [e for e in contact["timeline"] if e["name"] == "unsubscribed"]
    assert [e["properties"]["channel"] for e in unsubscribed] == ["telegram"]


def test_a_deep_link_links_one_chat_only_and_forged_tokens_link_none(
    api: Client, admin_headers: dict[str, str]
) -> None:
    visitor = str(uuid.uuid4())
    browse(api, visitor)
    token = visitor_link(api, visitor)["token"]
    assert post_telegram(api, start(token)).status_code == 200

    stranger = start(token, update_id=583950101)
    stranger["message"]["chat"]["id"] = stranger["message"]["from"]["id"] = 55501
    assert post_telegram(api, stranger).status_code == 200
    forged = start(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), 583950102)
    forged["message"]["chat"]["id"] = forged["message"]["from"]["id"] = 55502
    assert post_telegram(api, forged).status_code == 200

    owner = find_contact(api, admin_headers, anonymous_id=visitor)
    assert owner is not None
    assert owner == find_contact(api, admin_headers, telegram=CHAT)
    for chat in ("55501", "55502"):
        other = find_contact(api, admin_headers, telegram=chat)
        assert other is not None and other["contact_id"] != owner["contact_id"]
        assert latest(other, "messenger_started")["properties"]["linked"] is False


def test_telegram_secrets_fail_closed(
    api: Client, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = post_telegram(api, start(), secret="not-the-secret")
    missing = post_telegram(api, start(), secret="")
    other_bot = post_telegram(api, start(), bot="other_bot", secret=None)  # its own secret: fine
    assert (wrong.status_code, missing.status_code, other_bot.status_code) == (403, 403, 200)
    unset(monkeypatch, "AUTOFUNNEL_SIGNING_SECRET")
    assert post_telegram(api, fixture("telegram/text.json")).status_code == 503
    contact = find_contact(api, admin_headers, telegram=CHAT)
    assert contact is not None  # only other_bot's update was stored
    assert sorted(names(contact)) == [
        "channel_linked",
        "identify",
        "messenger_started",
        "subscribed",
    ]


@pytest.mark.parametrize(
    ("update", "why"),
    [
        ("telegram/edited_message.json", "update kind edited_message"),
        ("telegram/group_message.json", "message in a supergroup chat"),
    ],
)
def test_updates_we_do_not_map_are_answered_200_and_logged(
    api: Client,
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    update: str,
    why: str,
) -> None:
    with caplog.at_level(logging.INFO, logger="chalicelib.api.messenger_webhooks"):
        response = post_telegram(api, fixture(update))
    assert response.status_code == 200 and response.json_body == {"ignored": why}
    assert f"{why} is not mapped" in caplog.text
    assert find_contact(api, admin_headers, telegram=CHAT) is None


# --- Meta ------------------------------------------------------------------------------------


def test_meta_subscription_handshake(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    ok = api.http.get(
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token=meta-verify-token&hub.challenge=1158201444"
    )
    assert ok.status_code == 200 and ok.body == b"1158201444"
    wrong = api.http.get(
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444"
    )
    assert wrong.status_code == 403
    unset(monkeypatch, "META_VERIFY_TOKEN")
    closed = api.http.get(
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token=&hub.challenge=1158201444"
    )
    assert closed.status_code == 503


def test_a_messenger_message_opens_the_24_hour_window_on_the_senders_identity(
    api: Client, admin_headers: dict[str, str]
) -> None:
    response = post_meta(api, fixture("meta/messenger_message.json"))
    assert response.status_code == 200, response.body
    assert response.json_body["stored"] == ["message_received"]
    contact = find_contact(api, admin_headers, messenger=PSID)
    assert contact is not None
    event = latest(contact, "message_received")
    assert event["properties"] == {"channel": "messenger", "text": "hello, world!"}
    assert event["timestamp"].startswith("2024-03-04T09:02:00")
    window = Identity.get(f"messenger:{PSID}").window_until
    assert window == datetime(2024, 3, 5, 9, 2, tzinfo=UTC)

    # An older message delivered late does not move the window back; a newer one moves it on.
    older = fixture("meta/messenger_message.json")
    older["entry"][0]["messaging"][0]["timestamp"] -= 3_600_000
    older["entry"][0]["messaging"][0]["message"]["mid"] = "m_older"
    newer = fixture("meta/messenger_quick_reply.json")
    post_meta(api, older)
    post_meta(api, newer)
    assert Identity.get(f"messenger:{PSID}").window_until == datetime(
        2024, 3, 5, 9, 3, 20, tzinfo=UTC
    )
    contact = find_contact(api, admin_headers, messenger=PSID)
    assert contact is not None
    assert latest(contact, "button_clicked")["properties"] == {
        "channel": "messenger",
        "button": "send_guide",
        "text": "Yes, send it",
    }


def test_meta_signatures_are_checked_over_the_raw_bytes(
    api: Client, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = fixture("meta/messenger_message.json")
    assert post_meta(api, payload, secret="not-the-app-secret").status_code == 403
    # Signed over compact JSON, sent pretty-printed: the same data, other bytes.
    import json

    signature = hex_hmac(
        SECRETS["META_APP_SECRET"], json.dumps(payload, separators=(",", ":")).encode()
    )
    pretty = json.dumps(payload, indent=2).encode()
    assert (
        post_signed(api, "/webhooks/meta", pretty, {"X-Hub-Signature-256": signature}).status_code
        == 403
    )
    unset(monkeypatch, "META_APP_SECRET")
    assert post_meta(api, payload).status_code == 503
    assert find_contact(api, admin_headers, messenger=PSID) is None


def test_an_m_me_referral_with_the_sites_token_links_the_visitor_once(
    api: Client, admin_headers: dict[str, str]
) -> None:
    visitor = str(uuid.uuid4())
    browse(api, visitor)
    token = visitor_link(api, visitor)["token"]
    payload = fixture("meta/messenger_postback_referral.json")
    payload["entry"][0]["messaging"][0]["postback"]["referral"]["ref"] = token
    first = post_meta(api, payload)
    replay = post_meta(api, payload)
    assert first.json_body["stored"] == ["messenger_started", "channel_linked", "button_clicked"]
    assert replay.json_body["stored"] == [] and replay.json_body["duplicates"] == 3
    contact = find_contact(api, admin_headers, messenger=PSID)
    assert contact is not None
    assert contact == find_contact(api, admin_headers, anonymous_id=visitor)
    assert latest(contact, "messenger_started")["properties"] == {
        "channel": "messenger",
        "linked": True,
    }
    assert latest(contact, "button_clicked")["properties"]["button"] == "GET_STARTED"


def test_instagram_and_whatsapp_messages_land_on_their_identities(
    api: Client, admin_headers: dict[str, str]
) -> None:
    assert post_meta(api, fixture("meta/instagram_message.json")).status_code == 200
    instagram = find_contact(api, admin_headers, instagram="5378901234567890")
    assert instagram is not None
    assert latest(instagram, "message_received")["properties"]["text"] == "guide"

    post_meta(api, fixture("meta/whatsapp_text.json"))
    post_meta(api, fixture("meta/whatsapp_button_reply.json"))
    whatsapp = find_contact(api, admin_headers, whatsapp="+16505551234")
    assert whatsapp is not None
    # The WhatsApp number is the person's phone: one contact for SMS and WhatsApp.
    assert whatsapp == find_contact(api, admin_headers, phone="+16505551234")
    assert latest(whatsapp, "message_received")["properties"]["text"] == (
        "Does it come in another color?"
    )
    assert latest(whatsapp, "button_clicked")["properties"] == {
        "channel": "whatsapp",
        "button": "send_guide",
        "text": "Send the guide",
    }
    window = Identity.get("whatsapp:+16505551234").window_until
    assert window == datetime.fromtimestamp(1709543000, UTC) + timedelta(hours=24)


def test_echoes_receipts_and_statuses_are_answered_200_and_logged(
    api: Client, admin_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="chalicelib.api.messenger_webhooks"):
        echo = post_meta(api, fixture("meta/messenger_echo_and_read.json"))
        status = post_meta(api, fixture("meta/whatsapp_status.json"))
    assert echo.status_code == status.status_code == 200
    assert echo.json_body["ignored"] == [
        "messenger echo of our own message",
        "messenger read event",
    ]
    assert status.json_body["ignored"] == ["whatsapp statuses (1)"]
    assert "whatsapp statuses (1) is not mapped" in caplog.text
    assert find_contact(api, admin_headers, messenger=PSID) is None
    assert find_contact(api, admin_headers, whatsapp="+16505551234") is None


# --- the deep-link endpoint -------------------------------------------------------------------


def test_the_deep_link_endpoint_needs_the_write_key_and_a_configured_bot(
    api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_key = api.http.post(
        "/v1/deeplink",
        headers={"Content-Type": "text/plain"},
        body=body_of({"anonymousId": "a-1"}),
    )
    assert no_key.status_code == 401
    long_id = visitor_link(api, "visitor-with-a-short-id")
    assert long_id["links"]["telegram"].startswith("https://t.me/shop_bot?start=")
    unset(monkeypatch, "TELEGRAM_BOT_USERNAME")
    from tests.conftest import WRITE_KEY

    closed = api.http.post(
        "/v1/deeplink",
        headers={"Content-Type": "text/plain"},
        body=body_of({"anonymousId": "a-1", "writeKey": WRITE_KEY}),
    )
    assert closed.status_code == 503


def meta_text(kind: str, text: str, message_id: str) -> dict[str, Any]:
    """A Messenger or WhatsApp Cloud text message from our fixtures, with its text replaced."""
    if kind == "messenger":
        payload = fixture("meta/messenger_message.json")
        message = payload["entry"][0]["messaging"][0]["message"]
        message.update(text=text, mid=message_id)
    else:
        payload = fixture("meta/whatsapp_text.json")
        message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        message.update(text={"body": text}, id=message_id)
    return payload


@pytest.mark.parametrize(
    ("kind", "lookup"),
    [("messenger", {"messenger": PSID}), ("whatsapp", {"whatsapp": "+16505551234"})],
)
def test_stop_in_a_chat_revokes_that_channel_and_start_opts_back_in(
    api: Client, admin_headers: dict[str, str], kind: str, lookup: dict[str, str]
) -> None:
    post_meta(api, meta_text(kind, "Hi there", "m-1"))
    assert post_meta(api, meta_text(kind, " Stop. ", "m-2")).status_code == 200
    post_meta(api, meta_text(kind, " Stop. ", "m-2"))  # a redelivery changes nothing
    contact = find_contact(api, admin_headers, **lookup)
    assert contact is not None
    assert contact["consents"][kind]["granted"] is False
    assert "sms" not in contact["consents"]  # only the channel the person wrote on
    texts = [
        e["properties"].get("text") for e in contact["timeline"] if e["name"] == "message_received"
    ]
    assert texts == ["Hi there"]  # STOP is an opt-out, not an answer for the funnels
    unsubscribed = [e for e in contact["timeline"] if e["name"] == "unsubscribed"]
    assert [e["properties"]["channel"] for e in unsubscribed] == [kind]

    post_meta(api, meta_text(kind, "START", "m-3"))
    contact = find_contact(api, admin_headers, **lookup)
    assert contact is not None
    assert contact["consents"][kind]["granted"] is True
    assert "subscribed" in names(contact)


def test_a_start_whose_consent_the_stream_carries_first_still_grants_it(
    api: Client, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route appends a request's entries concurrently, so the stream may carry the /start's
    consent before the events that make the chat known: the consent must not be dropped."""
    worker = wiring.app().worker
    process = worker.process
    monkeypatch.setattr(worker, "process", lambda entries, *rest: process(entries[::-1], *rest))
    visitor = str(uuid.uuid4())
    browse(api, visitor, "telegram_cta_clicked")
    assert post_telegram(api, start(visitor_link(api, visitor)["token"])).status_code == 200
    contact = find_contact(api, admin_headers, telegram=CHAT)
    assert contact is not None and contact == find_contact(api, admin_headers, anonymous_id=visitor)
    assert contact["consents"]["telegram"]["granted"] is True
