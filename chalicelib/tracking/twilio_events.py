"""Twilio callbacks as log entries: message status updates, and inbound texts (opt-out keywords,
replies). Pure: the route appends what these return and answers with TwiML."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from xml.sax.saxutils import escape

from chalicelib.channels.keywords import HELP, START, STOP, keyword
from chalicelib.channels.retry import TWILIO_UNREACHABLE
from chalicelib.core import trust
from chalicelib.eventlog.entry import (
    CONSENT,
    PROVIDER,
    STATUS,
    Entry,
    message_subject,
    namespaced,
)
from chalicelib.tracking import identities

SOURCE = "twilio"
TRUST = trust.PROVIDER  # signed by Twilio: our messages' fate, and the number a text came from
DEFAULT_HELP = "Reply STOP to unsubscribe or START to resubscribe. Msg & data rates may apply."
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twiml_message(text: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Message>{escape(text)}</Message></Response>"
    )


def status_entry(
    params: Mapping[str, str], message_id: str | None, received: datetime
) -> Entry | None:
    """One status callback; None for statuses that change nothing (queued, sent).
    `message_id` is the `m` query parameter our status callback URLs carry."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if not sid or not status:
        return None
    code = params.get("ErrorCode") or ""
    details: dict[str, object] = {"provider_status": status}
    if code:
        details["error_code"] = code
    if status == "delivered":
        name = "delivered"
    elif status == "read":  # WhatsApp read receipts
        name = "opened"
    elif status in ("failed", "undelivered"):
        dead = code.isdigit() and int(code) in TWILIO_UNREACHABLE
        name = "bounced" if dead else "failed"
        if dead:
            details["unreachable"] = True
    else:
        return None
    return Entry(
        subject=message_subject(message_id) if message_id else f"{PROVIDER}{sid}",
        event_id=namespaced(SOURCE, f"{sid}:{status}"),
        type=STATUS,
        name=name,
        timestamp=received,
        properties=details,
        source=SOURCE,
        trust=TRUST,
    )


def inbound(
    params: Mapping[str, str], received: datetime, help_text: str = DEFAULT_HELP
) -> tuple[list[Entry], str]:
    """(entries to append, TwiML to answer) for one inbound text. HELP is answered at once and
    stored nowhere; STOP and START change consent; anything else is a reply. The sender must
    already be a contact (their phone an identity): the worker ignores strangers."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    sender = params.get("From") or ""
    body = params.get("Body") or ""
    whatsapp = sender.startswith("whatsapp:")
    number = sender.removeprefix("whatsapp:")
    word = keyword(body)
    if word in HELP:
        return [], twiml_message(help_text)
    if not sid or not number:
        return [], EMPTY_TWIML
    kinds = ("whatsapp", "phone") if whatsapp else ("phone",)
    lookup = tuple(identities.key(kind, number) for kind in kinds)
    channel = "whatsapp" if whatsapp else "sms"
    if word in STOP or word in START:
        # STOP on WhatsApp opts out of SMS as well: it is the same person and number.
        channels = ("sms", "whatsapp") if whatsapp else ("sms",)
        entries = [
            Entry(
                subject=lookup[0],
                event_id=namespaced(SOURCE, f"{sid}:{name}"),
                type=CONSENT,
                name="subscribed" if word in START else "unsubscribed",
                timestamp=received,
                properties={"channel": name, "keyword": word},
                lookup=lookup,
                source=SOURCE,
                trust=TRUST,
            )
            for name in channels
        ]
        return entries, EMPTY_TWIML  # Twilio answers opt-out keywords with its own confirmation
    reply = Entry(
        subject=lookup[0],
        event_id=namespaced(SOURCE, sid),
        type="track",
        name="message_received",
        timestamp=received,
        properties={"channel": channel, "text": body},
        context={"chat": {"channel": channel, "address": number, "reply": body}},
        lookup=lookup,
        source=SOURCE,
        trust=TRUST,
    )
    return [reply], EMPTY_TWIML
