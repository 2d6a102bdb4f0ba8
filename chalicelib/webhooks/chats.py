"""Messenger updates (Telegram, Messenger, Instagram, WhatsApp Cloud) after parsing: store their
events through the ingest pipeline, then what a chat changes beyond events — consent (/start,
/stop, a blocked bot), the reply that answers our last message, Meta's 24-hour window — and
the deep link that ties the chat to a site visitor (one chat per token)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.config import Settings
from chalicelib.identity import store as identity_store
from chalicelib.tracking import consent, message_status
from chalicelib.tracking.tokens import DeepLink
from chalicelib.webhooks import deeplinks, windows
from chalicelib.webhooks.inbound import Inbound, check, store

META_WINDOW = timedelta(hours=24)


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


@dataclass
class Applied:
    stored: list[str] = field(default_factory=list)
    duplicates: int = 0
    contacts: dict[str, str] = field(default_factory=dict)  # chat identity -> contact id


def apply(
    updates: Sequence[ChatUpdate], namespace: str, settings: Settings, now: datetime, source: str
) -> Applied:
    check([event for update in updates for event in update.events])  # before any write
    updates = [_linked(update, now) for update in updates]
    outcome = store(
        [event for update in updates for event in update.events], namespace, settings, now, source
    )
    applied = Applied(
        [event.name for event in outcome.stored if event.source == source], outcome.duplicates
    )
    by_event = {event.event_id: event.contact_id for event in outcome.stored}
    for update in updates:
        contact_id = next(
            (by_event[event.event_id] for event in update.events if event.event_id in by_event),
            None,
        ) or identity_store.owner(update.identity)  # a replay: the chat's contact
        if contact_id is None:
            continue  # e.g. /stop from a chat we never stored: nobody to opt out
        applied.contacts[update.identity] = contact_id
        _side_effects(update, contact_id, fresh=any(e.event_id in by_event for e in update.events))
    return applied


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


def _side_effects(update: ChatUpdate, contact_id: str, fresh: bool) -> None:
    if update.consent is not None:  # idempotent: a replay changes nothing and emits nothing
        change = consent.grant if update.consent else consent.revoke  # /start, /stop
        change(
            contact_id,
            update.channel,
            source=update.channel,
            event_id=f"{update.update_id}:consent",
        )
    if update.window_from is not None:
        windows.extend(update.identity, update.window_from + META_WINDOW)
    if update.reply is not None and fresh:
        at = update.events[-1].at if update.events else None
        # Before the reply: the funnels have already answered it (a question asked again).
        latest = message_status.latest_to(contact_id, (update.channel,), update.address, before=at)
        if latest is not None:
            message_status.record(latest, "replied", at, {"text": update.reply})
