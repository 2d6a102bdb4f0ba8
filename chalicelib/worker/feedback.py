"""What providers and people tell us about our messages: statuses (delivered, opened, clicked,
bounced, failed, unsubscribed, replied), dead addresses, email opt-outs, and the chat
bookkeeping of messenger updates (Meta's 24-hour window, a reply to our last message).

Each status lands once in the message's history, with the log entry that reported it; the
enrollment that sent the message is told every time the entry is handled (the engine ignores
what it already knows), so a redelivered batch never loses a reaction. What each entry adds to
the figures is returned for the worker's batch tally: the reactions of the entry whose history
entry is the status's first, and every click."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.analytics import step_figures
from chalicelib.analytics.tally import Tally
from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import (
    CONSENT,
    MESSAGE,
    PROVIDER,
    STATUS,
    VERIFIED,
    Entry,
    contact_subject,
)
from chalicelib.identity.keys import split_key
from chalicelib.statuses import MessageStatusUpdate
from chalicelib.storage.models import Message, Receipt
from chalicelib.tracking import identities, message_status
from chalicelib.webhooks import windows
from chalicelib.worker.messages import BatchMessages

META_WINDOW = timedelta(hours=24)


def message_of(entry: Entry, messages: BatchMessages) -> Message | None:
    if entry.subject.startswith(MESSAGE):
        return messages.get(entry.subject.removeprefix(MESSAGE))
    if entry.subject.startswith(PROVIDER):
        return messages.by_provider_id(entry.subject.removeprefix(PROVIDER))
    return None


def contact_of(entry: Entry, messages: BatchMessages) -> str | None:
    message = message_of(entry, messages)
    return message.contact_id if message is not None else None


def order_key(namespace: str, order_id: str) -> str:
    return f"order-buyer:{namespace}:{order_id}"


def remember_buyer(entry: Entry, now: datetime, keep: timedelta) -> None:
    """An order's buyer, for the webhooks that later name only the order (Shopify refunds)."""
    order_id = entry.properties.get("order_id")
    namespace = entry.context.get("shop")
    if not order_id or not namespace or not entry.keys:
        return
    Receipt(
        order_key(str(namespace), str(order_id)),
        created_at=now,
        result={"keys": list(entry.keys)},
        expires_at=now + keep,
    ).save()


def order_buyer(entry: Entry) -> list[str]:
    namespace, _, order_id = entry.subject.removeprefix("order:").rpartition(":")
    try:
        remembered = Receipt.get(order_key(namespace, order_id)).result or {}
    except Receipt.DoesNotExist:
        return []
    return [str(key) for key in remembered.get("keys", [])]


def refile(entry: Entry, contact_id: str) -> None:
    """An order event that named only its order (a refund), now that its buyer is known."""
    append(
        [dataclasses.replace(entry, subject=contact_subject(contact_id), position="")],
        entry.received_at or entry.timestamp,
    )


Figures = list[tuple[Entry, Tally]]


def apply(
    entries: Sequence[Entry],
    contact_id: str,
    runtime: Any,
    now: datetime,
    messages: BatchMessages,
) -> Figures:
    """Returns what each entry adds to the counters. `messages`: the batch's copies of the
    messages its entries name, handed on to the runtime."""
    updates: list[MessageStatusUpdate] = []
    figures: Figures = []
    for entry in sorted(entries, key=lambda e: (e.timestamp, e.position)):
        found: list[tuple[Message, MessageStatusUpdate]] = []
        if entry.type == STATUS:
            found = _status(entry, messages)
        elif entry.type == CONSENT and entry.verified:
            found = _opt_out_reaches_message(entry, contact_id, messages)
        elif entry.verified and isinstance(entry.context.get("chat"), dict):
            found = _chat(entry, contact_id, messages)
        for message, update in found:
            tally = step_figures.reaction_figures(message, update.status, entry.event_id)
            if entry.type == STATUS and entry.properties.get("count_click"):
                tally.add(message_status.clicks_scope(message.message_id), "clicks")
            figures.append((entry, tally))
            updates.append(update)
    if updates:
        runtime.handle_statuses(updates, messages.get)
    return figures


def _recorded(
    message: Message, status: str, entry: Entry, details: dict[str, Any]
) -> list[tuple[Message, MessageStatusUpdate]]:
    message_status.record(message, status, entry.timestamp, {**details, "by": entry.event_id})
    return [(message, MessageStatusUpdate(message.message_id, status, entry.timestamp, details))]


def _status(entry: Entry, messages: BatchMessages) -> list[tuple[Message, MessageStatusUpdate]]:
    message = message_of(entry, messages)
    if message is None:
        return []
    details = {k: v for k, v in entry.properties.items() if k not in _FLAGS and v is not None}
    if entry.properties.get("unreachable"):
        address = str(entry.properties.get("address") or message.address or "")
        identities.mark_unreachable(message.contact_id, message.channel, address, entry.timestamp)
    if entry.properties.get("opt_out"):
        _opt_out(entry, message)
    return _recorded(message, entry.name, entry, details)


_FLAGS = ("count_click", "unreachable", "address", "opt_out")


def _opt_out(entry: Entry, message: Message) -> None:
    """A spam report or an unsubscribe at the provider: the same as our unsubscribe link."""
    append(
        [
            Entry(
                subject=contact_subject(message.contact_id),
                event_id=f"opt-out:{entry.event_id}",
                type=CONSENT,
                name="unsubscribed",
                timestamp=entry.timestamp,
                properties={
                    "channel": str(entry.properties["opt_out"]),
                    "message_id": message.message_id,
                    "reason": entry.properties.get("provider_event"),
                },
                source=entry.source,
                trust=VERIFIED,
            )
        ],
        entry.timestamp,
    )


def _opt_out_reaches_message(
    entry: Entry, contact_id: str, messages: BatchMessages
) -> list[tuple[Message, MessageStatusUpdate]]:
    """An unsubscribe link names its message; a STOP text answers our latest text."""
    if entry.name != "unsubscribed":
        return []
    message = None
    if entry.properties.get("message_id"):
        message = messages.get(str(entry.properties["message_id"]))
    elif entry.properties.get("keyword") and entry.lookup:  # a STOP text from this number
        number = split_key(entry.lookup[-1])[1]
        message = message_status.latest_to(contact_id, ("sms", "whatsapp"), number)
        if message is not None:
            messages.keep(message)
    if message is None:
        return []
    details = {
        k: str(entry.properties[k]) for k in ("keyword", "source") if entry.properties.get(k)
    }
    details.setdefault("source", entry.source)
    return _recorded(message, "unsubscribed", entry, details)


def _chat(
    entry: Entry, contact_id: str, messages: BatchMessages
) -> list[tuple[Message, MessageStatusUpdate]]:
    chat: dict[str, Any] = entry.context["chat"]
    channel, address = str(chat.get("channel") or ""), str(chat.get("address") or "")
    if chat.get("window") and chat.get("identity"):
        windows.extend(str(chat["identity"]), entry.timestamp + META_WINDOW)
    reply = chat.get("reply")
    if not isinstance(reply, str) or not channel:
        return []
    channels = ("sms", "whatsapp") if channel in ("sms", "whatsapp") else (channel,)
    latest = message_status.latest_to(contact_id, channels, address, before=entry.timestamp)
    if latest is None:
        return []
    messages.keep(latest)
    return _recorded(latest, "replied", entry, {"text": reply})
