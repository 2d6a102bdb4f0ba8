"""Meta webhooks (Messenger, Instagram, WhatsApp Cloud API) -> chat updates (pure).

- a text message: message_received {channel, text}; a quick reply, postback or WhatsApp
  button/list reply: button_clicked {channel, button: payload or id, text}.
- an m.me link's `ref` (a referral, or the referral of the Get Started postback) that is a
  valid deep-link token links the chat to the site visitor: messenger_started + channel_linked.
- every inbound message opens Meta's 24-hour window on the sender's identity.
- a text that is an opt-out word (STOP, UNSUBSCRIBE, ...) revokes that channel's consent and
  is not a message for the funnels; an opt-in word (START, YES, UNSTOP) grants it again and is
  still passed on as a message (YES may answer a bot's question too).
Echoes of our own messages, delivery/read receipts and statuses are not mapped (logged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.channels.keywords import consent_change
from chalicelib.webhooks import deeplinks, fields
from chalicelib.webhooks.chats import ChatUpdate
from chalicelib.webhooks.inbound import Inbound
from chalicelib.webhooks.telegram import (
    BUTTON_CLICKED,
    CHANNEL_LINKED,
    MESSAGE_RECEIVED,
    MESSENGER_STARTED,
)

CHANNEL_OF_OBJECT = {"page": "messenger", "instagram": "instagram"}
WHATSAPP_OBJECT = "whatsapp_business_account"


@dataclass
class Parsed:
    updates: list[ChatUpdate] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def parse(body: dict[str, Any], secret: str, received: datetime) -> Parsed:
    parsed = Parsed()
    kind = body.get("object") if isinstance(body.get("object"), str) else None
    entries = [entry for entry in _list(body.get("entry")) if isinstance(entry, dict)]
    if kind in CHANNEL_OF_OBJECT:
        for entry in entries:
            for item in _list(entry.get("messaging")):
                if isinstance(item, dict):
                    _messaging(CHANNEL_OF_OBJECT[kind], item, secret, received, parsed)
    elif kind == WHATSAPP_OBJECT:
        for entry in entries:
            for change in _list(entry.get("changes")):
                if isinstance(change, dict) and isinstance(change.get("value"), dict):
                    _whatsapp(change["value"], received, parsed)
    else:
        parsed.ignored.append(f"object {kind!r}")
    return parsed


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _messaging(
    channel: str, item: dict[str, Any], secret: str, received: datetime, parsed: Parsed
) -> None:
    sender = fields.text((item.get("sender") or {}).get("id"))
    if sender is None:
        parsed.ignored.append("messaging event without a sender")
        return
    if (item.get("message") or {}).get("is_echo"):
        parsed.ignored.append(f"{channel} echo of our own message")
        return
    identity = f"{channel}:{sender}"
    at = fields.epoch(item.get("timestamp"), received, millis=True)
    message = item.get("message") or {}
    postback = item.get("postback") or {}
    referral = item.get("referral") or postback.get("referral") or {}
    base = fields.text(message.get("mid") or postback.get("mid")) or fields.digest(item)
    events: list[Inbound] = []
    link = deeplinks.read(secret, str(referral.get("ref") or ""), received)
    if referral:
        started = {"channel": channel, "linked": link is not None}
        if link is None and referral.get("ref"):
            started["payload"] = str(referral["ref"])[:64]
        events += [
            Inbound(f"{base}:started", MESSENGER_STARTED, at, started, identities=(identity,)),
            Inbound(
                f"{base}:linked", CHANNEL_LINKED, at, {"channel": channel}, identities=(identity,)
            ),
        ]
    reply: str | None = None
    consent: bool | None = None
    if message:
        quick = (message.get("quick_reply") or {}).get("payload")
        text = str(message.get("text") or "")
        consent = None if quick else consent_change(text)
        if quick:
            props = {"channel": channel, "button": str(quick), "text": text}
            events.append(Inbound(base, BUTTON_CLICKED, at, props, identities=(identity,)))
        elif text and consent is not False:
            props = {"channel": channel, "text": text[:4096]}
            events.append(Inbound(base, MESSAGE_RECEIVED, at, props, identities=(identity,)))
            reply = text
    elif postback.get("payload"):
        props = {
            "channel": channel,
            "button": str(postback["payload"]),
            "text": str(postback.get("title") or ""),
        }
        events.append(Inbound(base, BUTTON_CLICKED, at, props, identities=(identity,)))
    if not events and consent is None:
        kinds = sorted(k for k in item if k not in ("sender", "recipient", "timestamp"))
        parsed.ignored.append(f"{channel} {', '.join(kinds) or 'empty'} event")
        return
    parsed.updates.append(
        ChatUpdate(
            channel,
            identity,
            sender,
            f"{channel}:{base}",
            events,
            consent=consent,
            reply=reply,
            window_from=at,
            link=link,
        )
    )


def _whatsapp(value: dict[str, Any], received: datetime, parsed: Parsed) -> None:
    if value.get("statuses"):
        parsed.ignored.append(f"whatsapp statuses ({len(value['statuses'])})")
    for message in value.get("messages") or []:
        if isinstance(message, dict):
            update = _whatsapp_message(message, received)
            if update is None:
                parsed.ignored.append(f"whatsapp {message.get('type')} message")
            else:
                parsed.updates.append(update)


def _whatsapp_message(message: dict[str, Any], received: datetime) -> ChatUpdate | None:
    phone = fields.phone("+" + str(message.get("from") or "").lstrip("+"))
    message_id = fields.text(message.get("id"))
    if phone is None or message_id is None:
        return None
    identity = f"whatsapp:{phone}"
    at = fields.epoch(message.get("timestamp"), received)
    kind = message.get("type")
    reply: str | None = None
    consent: bool | None = None
    props: dict[str, Any] = {"channel": "whatsapp"}
    if kind == "text":
        reply = str((message.get("text") or {}).get("body") or "")
        consent = consent_change(reply)
        if consent is False:  # STOP: an opt-out, not an answer for the funnels
            return ChatUpdate(
                "whatsapp",
                identity,
                phone,
                f"whatsapp:{message_id}",
                consent=False,
                window_from=at,
            )
        name, props["text"] = MESSAGE_RECEIVED, reply[:4096]
    elif kind in ("interactive", "button"):
        name = BUTTON_CLICKED
        choice = _choice(message)
        if choice is None:
            return None
        props["button"], props["text"] = choice
    else:
        return None
    # The WhatsApp number is the person's phone: SMS and WhatsApp reach one contact.
    event = Inbound(message_id, name, at, props, phone=phone, identities=(identity,))
    return ChatUpdate(
        "whatsapp",
        identity,
        phone,
        f"whatsapp:{message_id}",
        [event],
        consent=consent,
        reply=reply,
        window_from=at,
    )


def _choice(message: dict[str, Any]) -> tuple[str, str] | None:
    if message.get("type") == "button":  # a template's quick-reply button
        button = message.get("button") or {}
        return str(button.get("payload") or button.get("text") or ""), str(button.get("text") or "")
    interactive = message.get("interactive") or {}
    reply = interactive.get("button_reply") or interactive.get("list_reply")
    if not isinstance(reply, dict) or not reply.get("id"):
        return None
    return str(reply["id"]), str(reply.get("title") or "")
