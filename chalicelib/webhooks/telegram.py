"""Telegram Bot API updates -> chat updates (pure: the parsed Update in, ChatUpdate out).

Private chats only (a chat id is then the person's user id, and where our messages go):
- `/start [payload]`: messenger_started {payload, linked} and channel_linked {channel}; a
  payload that is a valid deep-link token links the chat to the site visitor; consent granted.
- `/stop`, or the person blocking the bot (my_chat_member -> kicked): consent revoked
  (the worker revokes it; funnels see `unsubscribed {channel: telegram}`).
- other text: message_received {text}; a shared own contact: message_received with the phone.
- a button press (callback_query): button_clicked {button: callback_data}; the webhook answers
  it with answerCallbackQuery so the button stops spinning.
Anything else (edits, channel posts, groups) is not mapped: ignored with a log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.webhooks import deeplinks, fields
from chalicelib.webhooks.chats import ChatUpdate
from chalicelib.webhooks.inbound import IDENTIFY, Inbound

CHANNEL = "telegram"
MESSENGER_STARTED = "messenger_started"
CHANNEL_LINKED = "channel_linked"
MESSAGE_RECEIVED = "message_received"
BUTTON_CLICKED = "button_clicked"


@dataclass(frozen=True)
class Parsed:
    update: ChatUpdate | None  # None: not an update we map (why says what it was)
    why: str = ""
    answer: dict[str, Any] | None = None  # a Bot API call returned as the webhook's response


def _command(text: str, bot: str) -> tuple[str, str] | None:
    """("start", "payload") for "/start payload" or "/start@bot payload"; None for plain text."""
    if not text.startswith("/"):
        return None
    head, _, rest = text.partition(" ")
    name, _, addressee = head[1:].partition("@")
    if addressee and addressee.lower() != bot.lower():
        return None
    return name.lower(), rest.strip()


def _profile(user: dict[str, Any]) -> dict[str, Any]:
    traits = {
        "first_name": fields.text(user.get("first_name")),
        "last_name": fields.text(user.get("last_name")),
        "telegram_username": fields.text(user.get("username")),
        "language": fields.text(user.get("language_code")),
    }
    return {name: value for name, value in traits.items() if value}


def parse(body: dict[str, Any], bot: str, secret: str, received: datetime) -> Parsed:
    update_id = fields.text(body.get("update_id"))
    if update_id is None:
        return Parsed(None, "no update_id")
    base = f"{bot}:{update_id}"
    if isinstance(body.get("message"), dict):
        return _message(body["message"], base, bot, secret, received)
    if isinstance(body.get("callback_query"), dict):
        return _button(body["callback_query"], base, received)
    if isinstance(body.get("my_chat_member"), dict):
        return _membership(body["my_chat_member"], base, received)
    kinds = sorted(key for key in body if key != "update_id")
    return Parsed(None, f"update kind {', '.join(kinds) or 'empty'}")


def _chat(message: dict[str, Any]) -> tuple[str, str] | None:
    chat = message.get("chat") or {}
    chat_id = fields.text(chat.get("id"))
    if chat.get("type") != "private" or chat_id is None:
        return None
    return chat_id, f"{CHANNEL}:{chat_id}"


def _message(
    message: dict[str, Any], base: str, bot: str, secret: str, received: datetime
) -> Parsed:
    found = _chat(message)
    if found is None:
        return Parsed(None, f"message in a {(message.get('chat') or {}).get('type')} chat")
    chat_id, identity = found
    at = fields.epoch(message.get("date"), received)
    user = message.get("from") or {}
    text = str(message.get("text") or "")
    command = _command(text, bot)
    common = {"channel": CHANNEL, "bot": bot}
    if command is not None and command[0] == "start":
        payload = command[1]
        link = deeplinks.read(secret, payload, received)
        events = []
        traits = _profile(user)
        if traits:
            events.append(
                Inbound(f"{base}:profile", IDENTIFY, at, identities=(identity,), traits=traits)
            )
        started = {**common, "linked": link is not None}
        if payload and link is None:
            started["payload"] = payload[:64]  # e.g. ?start=guide: a campaign, not a token
        events += [
            Inbound(base, MESSENGER_STARTED, at, started, identities=(identity,)),
            Inbound(
                f"{base}:linked", CHANNEL_LINKED, at, {"channel": CHANNEL}, identities=(identity,)
            ),
        ]
        return Parsed(ChatUpdate(CHANNEL, identity, chat_id, base, events, consent=True, link=link))
    if command is not None and command[0] == "stop":
        return Parsed(ChatUpdate(CHANNEL, identity, chat_id, base, consent=False))
    shared = message.get("contact") or {}
    if shared and str(shared.get("user_id")) == str(user.get("id")):
        phone = fields.phone("+" + str(shared.get("phone_number") or "").lstrip("+"))
        props = {**common, "text": phone or "", "phone_shared": True}
        event = Inbound(base, MESSAGE_RECEIVED, at, props, phone=phone, identities=(identity,))
        return Parsed(ChatUpdate(CHANNEL, identity, chat_id, base, [event], reply=phone))
    if not text:
        return Parsed(None, "message without text")
    props = {**common, "text": text[:4096], "message_id": fields.text(message.get("message_id"))}
    event = Inbound(base, MESSAGE_RECEIVED, at, props, identities=(identity,))
    return Parsed(ChatUpdate(CHANNEL, identity, chat_id, base, [event], reply=text))


def _button(query: dict[str, Any], base: str, received: datetime) -> Parsed:
    # A callback query carries no date of its own: it happened as it arrived.
    answer = {"method": "answerCallbackQuery", "callback_query_id": str(query.get("id") or "")}
    message = query.get("message") or {}
    found = _chat(message) if message else None
    user_id = fields.text((query.get("from") or {}).get("id"))
    if found is None and user_id is None:
        return Parsed(None, "button press without a chat", answer)
    chat_id, identity = found or (user_id or "", f"{CHANNEL}:{user_id}")
    button = fields.text(query.get("data"))
    if button is None:
        return Parsed(None, "button press without data (a game)", answer)
    props = {
        "channel": CHANNEL,
        "button": button,
        "message_id": fields.text(message.get("message_id")),
    }
    event = Inbound(base, BUTTON_CLICKED, received, props, identities=(identity,))
    return Parsed(ChatUpdate(CHANNEL, identity, chat_id, base, [event]), answer=answer)


def _membership(change: dict[str, Any], base: str, received: datetime) -> Parsed:
    """The person blocked the bot: an opt-out. (Unblocking alone is not an opt-in; the /start
    that follows is.)"""
    found = _chat(change)
    status = (change.get("new_chat_member") or {}).get("status")
    if found is None or status != "kicked":
        return Parsed(None, f"chat member status {status!r}")
    chat_id, identity = found
    return Parsed(ChatUpdate(CHANNEL, identity, chat_id, base, consent=False))
