"""Twilio callbacks: message status updates, and inbound texts (opt-out keywords, replies)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from chalicelib.channels.keywords import HELP, START, STOP, keyword
from chalicelib.channels.retry import TWILIO_UNREACHABLE
from chalicelib.events import StoredEvent
from chalicelib.storage.models import Message
from chalicelib.tracking import consent, identities, message_status, receipts

DEFAULT_HELP = "Reply STOP to unsubscribe or START to resubscribe. Msg & data rates may apply."
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twiml_message(text: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Message>{escape(text)}</Message></Response>"
    )


def process_status(params: Mapping[str, str], message_id: str | None = None) -> bool:
    """Apply one status callback; False for a replay or a message that is not ours.
    `message_id` is the `m` query parameter our status callback URLs carry."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if not sid or not status:
        return False
    message = message_status.find(message_id) if message_id else None
    message = message or message_status.find_by_provider_id(sid)
    if message is None:
        return False
    key = f"twilio:{sid}:{status}"
    if not receipts.claim(key):
        return False
    try:
        _apply_status(message, status, params)
    except Exception:
        receipts.release(key)
        raise
    return True


def _apply_status(message: Message, status: str, params: Mapping[str, str]) -> None:
    code = params.get("ErrorCode") or ""
    details = {"provider_status": status, "error_code": code or None}
    if status == "delivered":
        message_status.record(message, "delivered", details=details)
    elif status == "read":  # WhatsApp read receipts
        message_status.record(message, "opened", details=details)
    elif status in ("failed", "undelivered"):
        dead = code.isdigit() and int(code) in TWILIO_UNREACHABLE
        if dead and message.address:
            identities.mark_unreachable(message.contact_id, message.channel, message.address)
        message_status.record(message, "bounced" if dead else "failed", details=details)


def process_inbound(params: Mapping[str, str], help_text: str = DEFAULT_HELP) -> str:
    """Apply one inbound text; returns the TwiML to answer with."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if sid and not receipts.claim(f"twilio-inbound:{sid}"):
        return EMPTY_TWIML
    try:
        return _apply_inbound(sid, params, help_text)
    except Exception:
        if sid:
            receipts.release(f"twilio-inbound:{sid}")
        raise


def _apply_inbound(sid: str, params: Mapping[str, str], help_text: str) -> str:
    sender = params.get("From") or ""
    body = params.get("Body") or ""
    whatsapp = sender.startswith("whatsapp:")
    number = sender.removeprefix("whatsapp:")
    channel = "whatsapp" if whatsapp else "sms"
    word = keyword(body)
    if word in HELP:
        return twiml_message(help_text)
    identity = identities.contact_for(("whatsapp", "phone") if whatsapp else ("phone",), number)
    if identity is None:
        return EMPTY_TWIML  # not a contact of ours; Twilio still applies STOP at its end
    contact_id = identity.contact_id
    now = datetime.now(UTC)
    latest = message_status.latest_to(contact_id, ("sms", "whatsapp"), number)
    # STOP on WhatsApp opts out of SMS as well: it is the same person and number.
    channels = ("sms", "whatsapp") if whatsapp else ("sms",)
    if word in STOP or word in START:
        granted = word in START
        for name in channels:
            consent.set_consent(
                contact_id,
                name,
                granted,
                source="twilio",
                event_id=f"twilio:{sid}:{name}",
                at=now,
                properties={"keyword": word},
            )
        if not granted and latest is not None:
            message_status.record(latest, "unsubscribed", now, {"keyword": word})
        return EMPTY_TWIML  # Twilio answers opt-out keywords with its own confirmation
    if latest is not None:
        message_status.record(latest, "replied", now, {"text": body})
    consent.store_event(
        StoredEvent(
            contact_id=contact_id,
            event_id=f"twilio:{sid}",
            type="track",
            name="message_received",
            timestamp=now,
            properties={"channel": channel, "text": body}
            | ({"in_reply_to": latest.message_id} if latest is not None else {}),
            source="twilio",
        )
    )
    return EMPTY_TWIML
