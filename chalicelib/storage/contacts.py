"""Contacts as plain data for the API, and their timeline of events.

A contact's events live in the log under its subjects: each identity key it owns and
"contact:{id}" (what the worker derived about it), plus those of the contacts merged into it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from chalicelib.eventlog.entry import CONSENT, STATUS, contact_subject
from chalicelib.storage.models import Contact, Event, Identity

MAX_TIMELINE = 500
MAX_PER_SUBJECT = 2000  # a subject's events read at most (a timeline shows the newest)
_MAX_HOPS = 5  # merged_into chains are compressed on merge; a few hops at most
_NOT_SHOWN = (STATUS,)  # provider feedback lives with its message, not on the timeline
_NAMESPACE = re.compile(r"^[0-9a-f]{10}:")  # eventlog.entry.namespaced: the source's own id follows


def resolve(contact_id: str) -> Contact | None:
    """The contact, following merge tombstones to the surviving contact."""
    for _ in range(_MAX_HOPS):
        try:
            contact = Contact.get(contact_id, consistent_read=True)
        except Contact.DoesNotExist:
            return None
        if not contact.merged_into:
            return contact
        contact_id = contact.merged_into
    return None


def get_profile(contact_id: str) -> dict[str, Any] | None:
    try:
        contact = Contact.get(contact_id)
    except Contact.DoesNotExist:
        return None
    return profile_of(contact)


def profile_of(contact: Contact) -> dict[str, Any]:
    profile = contact.to_simple_dict(force=True)  # force: string sets become lists
    profile.pop("version", None)
    if "merged_from" in profile:
        profile["merged_from"] = sorted(profile["merged_from"])
    if "tags" in profile:
        profile["tags"] = sorted(profile["tags"])
    return profile


def subjects_of(contact: Contact | None, contact_id: str, identities: Iterable[str]) -> list[str]:
    """Where the contact's events are filed: its identity keys and its own subjects."""
    merged = sorted(contact.merged_from or ()) if contact is not None else []
    return [*identities, *(contact_subject(c) for c in (contact_id, *merged))]


def events_of(subjects: Iterable[str], now: datetime, limit: int) -> list[Event]:
    """The newest `limit` events under the subjects, newest first (expired ones left out:
    TTL deletes lag up to two days)."""
    found = [item for subject in dict.fromkeys(subjects) for item in _live(subject, now)]
    found.sort(key=lambda item: (item.timestamp, item.event_id), reverse=True)
    return found[:limit]


def _live(subject: str, now: datetime) -> Iterator[Event]:
    for item in Event.query(subject, limit=MAX_PER_SUBJECT):
        if item.type in _NOT_SHOWN or (item.expires_at is not None and item.expires_at <= now):
            continue
        yield item


def timeline(contact_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """Newest first."""
    try:
        contact: Contact | None = Contact.get(contact_id)
    except Contact.DoesNotExist:
        contact = None
    keys = [item.identity for item in Identity.by_contact.query(contact_id)]
    now = datetime.now().astimezone()
    events = []
    for item in events_of(subjects_of(contact, contact_id, keys), now, limit):
        event = item.to_simple_dict()
        for internal in ("subject", "keys", "lookup", "expires_at", "trust"):
            event.pop(internal, None)
        event["event_id"] = _NAMESPACE.sub("", item.event_id)
        if item.type == CONSENT:
            event["type"] = "track"  # an opt-out shows as the event funnels saw
        events.append(event)
    return events
