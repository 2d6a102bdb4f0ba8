"""Messenger updates (Telegram, Messenger, Instagram, WhatsApp Cloud) after parsing, as log
entries: their events, and what a chat changes beyond events — consent (/start, /stop, a blocked
bot), the reply that answers our last message, Meta's 24-hour window — which the worker applies;
and the deep link that ties the chat to a site visitor (one chat per token)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.core.trust import MESSENGER
from chalicelib.eventlog.entry import CONSENT, Entry, namespaced
from chalicelib.tracking.tokens import DeepLink
from chalicelib.webhooks import deeplinks
from chalicelib.webhooks.inbound import Inbound, check, to_entries


@dataclass(frozen=True)
class ChatUpdate:
    channel: str  # telegram | messenger | instagram | whatsapp
    identity: str  # the chat's identity key, e.g. "telegram:123456"
    address: str  # where our messages to this chat went (chat id, PSID, E.164)
    update_id: str  # unique per source: names the consent change it may cause
    events: list[Inbound] = field(default_factory=list)
    consent: bool | None = None  # True: subscribed (/start), False: unsubscribed (/stop)
    reply: str | None = None  # a free-text answer: marks our latest message here "replied"
    window_from: datetime | None = None  # Meta: the person wrote at this moment
    link: DeepLink | None = None  # a verified deep link: the chat joins that visitor


def entries(
    updates: Sequence[ChatUpdate], namespace: str, source: str, now: datetime
) -> list[Entry]:
    """The log entries of the updates: their events (the last one carrying the chat's
    bookkeeping for the worker: the 24-hour window, a reply to our last message) and a consent
    entry for /start, /stop or a blocked bot. A deep link is claimed here, by the first chat
    that presents it (a link shared onward links nobody else)."""
    check([event for update in updates for event in update.events])  # before any write
    found: list[Entry] = []
    for update in (_linked(update, now) for update in updates):
        events = to_entries(update.events, namespace, source, trust=MESSENGER)
        if events:
            chat: dict[str, Any] = {
                "channel": update.channel,
                "address": update.address,
                "identity": update.identity,
            }
            if update.window_from is not None:
                chat["window"] = True
            if update.reply is not None:
                chat["reply"] = update.reply
            last = events[-1]
            events[-1] = dataclasses.replace(last, context={**last.context, "chat": chat})
        found.extend(events)
        if update.consent is not None:
            at = update.events[-1].at if update.events else (update.window_from or now)
            found.append(
                Entry(
                    subject=update.identity,
                    event_id=namespaced(namespace, f"{update.update_id}:consent"),
                    type=CONSENT,
                    name="subscribed" if update.consent else "unsubscribed",
                    timestamp=at,
                    properties={"channel": update.channel},
                    lookup=(update.identity,),
                    source=source,
                    trust=MESSENGER,
                )
            )
    return found


def _linked(update: ChatUpdate, now: datetime) -> ChatUpdate:
    """Each event of a deep-linked update carries the visitor's anonymous id, so identity
    resolution puts the chat on the visitor's contact (merging if both were known). A token
    another chat already used links nothing, and its `linked` property says so."""
    if update.link is None:
        return update
    if deeplinks.bind(update.link, update.identity, now):
        anonymous_id = update.link.anonymous_id
        events = [dataclasses.replace(event, anonymous_id=anonymous_id) for event in update.events]
    else:
        events = [
            dataclasses.replace(event, properties={**event.properties, "linked": False})
            if "linked" in event.properties
            else event
            for event in update.events
        ]
    return dataclasses.replace(update, events=events, link=None)
