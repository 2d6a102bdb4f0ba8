"""The senders against a local stand-in for each provider: the real twilio and sendgrid SDKs (and
our stdlib clients for Telegram, Meta and webhooks) over real HTTP; we assert the exact requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.channels.base import (
    ChannelUnavailable,
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
)
from chalicelib.channels.messenger import MetaMessenger
from chalicelib.channels.registry import build_channels
from chalicelib.channels.retry import with_retries
from chalicelib.channels.sendgrid_email import SendGridEmail
from chalicelib.channels.telegram import TelegramBot
from chalicelib.channels.twilio_sms import TwilioMessaging
from chalicelib.channels.webhook import WebhookChannel, funnel_secret
from chalicelib.config import Settings
from tests.provider_stub import ProviderStub, Reply, running

SID = "AC" + "0" * 32
TOKEN = "twilio-auth-token"


@pytest.fixture
def stub() -> Iterator[ProviderStub]:
    with running() as server:
        yield server


def message(channel: str, address: str, **content) -> OutgoingMessage:
    return OutgoingMessage(
        message_id="msg-1",
        channel=channel,
        address=address,
        content=content,
        contact_id="contact-1",
        funnel="welcome",
        step_id="email-1",
        unsubscribe_url="https://af.example.test/u/tok" if channel == "email" else None,
        status_callback_url="https://af.example.test/webhooks/twilio/status"
        if channel in ("sms", "whatsapp")
        else None,
    )


def twilio_created(sid: str = "SM123", segments: str = "1") -> Reply:
    return Reply(
        201, {"sid": sid, "status": "queued", "num_segments": segments, "account_sid": SID}
    )


class TestTwilio:
    def test_sms_via_messaging_service_with_callback_and_media(self, stub: ProviderStub) -> None:
        stub.reply(twilio_created("SM1", "2"))
        sender = TwilioMessaging(
            "sms", SID, TOKEN, messaging_service_sid="MG1", api_base_url=stub.url
        )
        result = sender.send(
            message(
                "sms", "+12125550100", text="Hi " * 60, media_urls=["https://cdn.example/a.png"]
            )
        )
        assert result.provider_id == "SM1" and result.details["segments"] == 2
        [request] = stub.requests
        assert request.method == "POST"
        assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
        expected_auth = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        assert request.headers["Authorization"] == f"Basic {expected_auth}"
        assert request.form() == {
            "To": ["+12125550100"],
            "Body": ["Hi " * 60],
            "MessagingServiceSid": ["MG1"],
            "StatusCallback": ["https://af.example.test/webhooks/twilio/status"],
            "MediaUrl": ["https://cdn.example/a.png"],
        }

    def test_whatsapp_prefixes_both_ends(self, stub: ProviderStub) -> None:
        stub.reply(twilio_created("SM2"))
        sender = TwilioMessaging(
            "whatsapp", SID, TOKEN, from_number="+14155550199", api_base_url=stub.url
        )
        sender.send(message("whatsapp", "+12125550100", text="Hello"))
        form = stub.requests[0].form()
        assert form["To"] == ["whatsapp:+12125550100"]
        assert form["From"] == ["whatsapp:+14155550199"]

    def test_invalid_number_is_permanent_and_unreachable(self, stub: ProviderStub) -> None:
        stub.reply(
            Reply(400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})
        )
        sender = TwilioMessaging(
            "sms", SID, TOKEN, from_number="+14155550199", api_base_url=stub.url
        )
        with pytest.raises(PermanentFailure) as failure:
            sender.send(message("sms", "+1000", text="x"))
        assert failure.value.address_unreachable and failure.value.code == "21211"

    def test_429_is_retried_after_the_providers_delay(self, stub: ProviderStub) -> None:
        stub.reply(
            Reply(
                429,
                {"code": 20429, "message": "Too Many Requests", "status": 429},
                {"Retry-After": "1"},
            ),
            twilio_created("SM3"),
        )
        sender = TwilioMessaging(
            "sms", SID, TOKEN, from_number="+14155550199", api_base_url=stub.url
        )
        slept: list[float] = []
        result = with_retries(
            lambda: sender.send(message("sms", "+12125550100", text="x")), sleep=slept.append
        )
        assert result.provider_id == "SM3" and slept == [1.0] and len(stub.requests) == 2


class TestSendGrid:
    def test_mail_send_request(self, stub: ProviderStub) -> None:
        stub.reply(Reply(202, None, {"X-Message-Id": "sg-abc"}))
        sender = SendGridEmail(
            "SG.key", "shop@example.com", "Shop", reply_to="help@example.com", host=stub.url
        )
        result = sender.send(
            message(
                "email", "ann@example.com", subject="Welcome", html="<p>Hello</p>", text="Hello"
            )
        )
        assert result.provider_id == "sg-abc"
        [request] = stub.requests
        assert (request.method, request.path) == ("POST", "/v3/mail/send")
        assert request.headers["Authorization"] == "Bearer SG.key"
        body = request.json()
        assert body["from"] == {"email": "shop@example.com", "name": "Shop"}
        assert body["reply_to"] == {"email": "help@example.com"}
        assert body["personalizations"] == [{"to": [{"email": "ann@example.com"}]}]
        assert body["subject"] == "Welcome"
        assert body["headers"] == {
            "List-Unsubscribe": "<https://af.example.test/u/tok>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        assert body["custom_args"] == {
            "message_id": "msg-1",
            "contact_id": "contact-1",
            "funnel": "welcome",
            "step_id": "email-1",
        }
        assert sorted(body["categories"]) == ["autofunnel", "email-1", "welcome"]
        text, html = body["content"]
        assert text == {
            "type": "text/plain",
            "value": "Hello\n\nUnsubscribe: https://af.example.test/u/tok\n",
        }
        assert html["type"] == "text/html"
        assert html["value"].startswith("<p>Hello</p>")
        assert '<a href="https://af.example.test/u/tok">Unsubscribe</a>' in html["value"]

    def test_a_body_with_its_own_unsubscribe_link_gets_no_second_one(
        self, stub: ProviderStub
    ) -> None:
        stub.reply(Reply(202, None, {"X-Message-Id": "sg-1"}))
        sender = SendGridEmail("SG.key", "shop@example.com", host=stub.url)
        own = '<p>Bye <a href="https://af.example.test/u/tok">leave</a></p>'
        sender.send(message("email", "ann@example.com", subject="s", html=own))
        assert stub.requests[0].json()["content"] == [{"type": "text/html", "value": own}]

    def test_rate_limit_and_bad_key(self, stub: ProviderStub) -> None:
        stub.reply(
            Reply(429, {"errors": [{"message": "too many"}]}, {"Retry-After": "5"}),
            Reply(401, {"errors": [{"message": "bad key"}]}),
        )
        sender = SendGridEmail("SG.key", "shop@example.com", host=stub.url)
        with pytest.raises(TemporaryFailure) as busy:
            sender.send(message("email", "ann@example.com", subject="s", text="t"))
        assert busy.value.retry_after == 5
        with pytest.raises(PermanentFailure) as key:
            sender.send(message("email", "ann@example.com", subject="s", text="t"))
        assert not key.value.address_unreachable


class TestTelegram:
    def test_send_message_with_inline_keyboard(self, stub: ProviderStub) -> None:
        stub.reply(Reply(200, {"ok": True, "result": {"message_id": 42}}))
        bot = TelegramBot("123:ABC", api_base=stub.url)
        result = bot.send(
            message(
                "telegram",
                "987",
                text="Your guide",
                buttons=[
                    {"text": "Open", "url": "https://shop.example/g"},
                    {"text": "Later", "callback_data": "later"},
                ],
            )
        )
        assert result.provider_id == "987:42"
        [request] = stub.requests
        assert request.path == "/bot123:ABC/sendMessage"
        assert request.json() == {
            "chat_id": "987",
            "text": "Your guide",
            "reply_markup": {
                "inline_keyboard": [
                    [{"text": "Open", "url": "https://shop.example/g"}],
                    [{"text": "Later", "callback_data": "later"}],
                ]
            },
        }

    def test_blocked_bot_is_unreachable_and_the_token_stays_secret(
        self, stub: ProviderStub
    ) -> None:
        stub.reply(
            Reply(
                403,
                {
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user",
                },
            )
        )
        bot = TelegramBot("123:SECRET", api_base=stub.url)
        with pytest.raises(PermanentFailure) as failure:
            bot.send(message("telegram", "987", text="hi"))
        assert failure.value.address_unreachable
        with pytest.raises(TemporaryFailure) as down:
            TelegramBot("123:SECRET", api_base="http://127.0.0.1:9").send(
                message("telegram", "1", text="x")
            )
        assert "SECRET" not in str(down.value)


class TestMessenger:
    NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)

    def sender(self, stub: ProviderStub, name: str = "messenger") -> MetaMessenger:
        return MetaMessenger(name, "page-token", api_base=stub.url, clock=lambda: self.NOW)

    def test_inside_the_window_a_response_with_quick_replies(self, stub: ProviderStub) -> None:
        stub.reply(Reply(200, {"recipient_id": "psid-1", "message_id": "m_abc"}))
        outgoing = OutgoingMessage(
            "msg-1",
            "messenger",
            "psid-1",
            {
                "text": "Want the guide?",
                "quick_replies": [{"title": "Yes", "payload": "GUIDE_YES"}],
            },
            "contact-1",
            window_until=self.NOW + timedelta(hours=3),
        )
        assert self.sender(stub).send(outgoing).provider_id == "m_abc"
        [request] = stub.requests
        assert request.path == "/v21.0/me/messages"
        assert request.headers["Authorization"] == "Bearer page-token"
        assert request.json() == {
            "recipient": {"id": "psid-1"},
            "messaging_type": "RESPONSE",
            "message": {
                "text": "Want the guide?",
                "quick_replies": [{"content_type": "text", "title": "Yes", "payload": "GUIDE_YES"}],
            },
        }

    def test_outside_the_window_a_permitted_tag_or_the_next_channel(
        self, stub: ProviderStub
    ) -> None:
        stub.reply(Reply(200, {"recipient_id": "psid-1", "message_id": "m_tag"}))
        closed = self.NOW - timedelta(hours=1)
        tagged = OutgoingMessage(
            "m",
            "messenger",
            "psid-1",
            {"text": "Order shipped", "tag": "POST_PURCHASE_UPDATE"},
            "c",
            window_until=closed,
        )
        self.sender(stub).send(tagged)
        body = stub.requests[0].json()
        assert (body["messaging_type"], body["tag"]) == ("MESSAGE_TAG", "POST_PURCHASE_UPDATE")
        promo = OutgoingMessage(
            "m", "messenger", "psid-1", {"text": "Sale!"}, "c", window_until=closed
        )
        with pytest.raises(ChannelUnavailable):
            self.sender(stub).send(promo)
        instagram_tag = OutgoingMessage(
            "m", "instagram", "ig-1", {"text": "x", "tag": "POST_PURCHASE_UPDATE"}, "c"
        )
        with pytest.raises(ChannelUnavailable):  # Instagram permits HUMAN_AGENT only
            self.sender(stub, "instagram").send(instagram_tag)
        assert len(stub.requests) == 1  # nothing was sent for the refused ones


class TestWebhook:
    def test_posts_signed_json(self, stub: ProviderStub) -> None:
        stub.reply(Reply(204))
        channel = WebhookChannel("signing-secret", clock=lambda: 1767225600, local=True)
        outgoing = OutgoingMessage(
            "msg-9",
            "webhook",
            f"{stub.url}/hook",
            {"url": f"{stub.url}/hook", "json": {"lead": "ann"}},
            "c",
            funnel="welcome",
        )
        assert channel.send(outgoing).provider_id == "webhook-msg-9"
        [request] = stub.requests
        assert request.body == b'{"lead":"ann"}'
        secret = funnel_secret("signing-secret", "welcome")
        expected = hmac.new(
            secret.encode(), b'1767225600.{"lead":"ann"}', hashlib.sha256
        ).hexdigest()
        assert request.headers["X-Autofunnel-Signature"] == f"t=1767225600,v1={expected}"
        assert request.headers["Idempotency-Key"] == "msg-9"
        assert funnel_secret("signing-secret", "other") != secret

    def test_receiver_errors_are_classified(self, stub: ProviderStub) -> None:
        stub.reply(Reply(503, {}, {"Retry-After": "2"}), Reply(410, {}))
        channel = WebhookChannel("s", local=True)
        outgoing = OutgoingMessage("m", "webhook", f"{stub.url}/hook", {"json": {}}, "c")
        with pytest.raises(TemporaryFailure) as busy:
            channel.send(outgoing)
        assert busy.value.retry_after == 2
        with pytest.raises(PermanentFailure):
            channel.send(outgoing)


def test_registry_uses_the_outbox_for_channels_without_credentials() -> None:
    bare = build_channels(Settings())
    assert {channel.name for name, channel in bare.items() if name != "onsite"} == {"outbox"}
    assert bare["onsite"].name == "onsite"  # the snippet shows them: nothing to configure
    configured = build_channels(
        Settings(
            signing_secret="s",
            providers={
                "SENDGRID_API_KEY": "k",
                "SENDGRID_FROM_EMAIL": "shop@example.com",
                "TWILIO_ACCOUNT_SID": SID,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "TWILIO_FROM_NUMBER": "+14155550199",
                "TELEGRAM_BOT_TOKEN": "1:x",
            },
        )
    )
    assert {name: channel.name for name, channel in configured.items()} == {
        "email": "email",
        "sms": "sms",
        "whatsapp": "outbox",  # no WhatsApp sender configured
        "telegram": "telegram",
        "messenger": "outbox",
        "instagram": "outbox",
        "webhook": "webhook",
        "onsite": "onsite",
    }
    json.dumps(sorted(configured))  # plain names
