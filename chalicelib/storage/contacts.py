"""Contacts as plain data for the API, and their timeline of events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.events import StoredEvent
from chalicelib.storage.models import Contact, Event

MAX_TIMELINE = 500
_MAX_HOPS = 5  # merged_into chains are compressed on merge; a few hops at most


def event_key(timestamp: datetime, event_id: str) -> str:
    """Fixed-width UTC time first, so a contact's events sort by time as strings."""
    return f"{timestamp.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{event_id}"


def event_item(event: StoredEvent, received_at: datetime, retention: timedelta) -> Event:
    return Event(
        event.contact_id,
        event_key(event.timestamp, event.event_id),
        event_id=event.event_id,
        type=event.type,
        name=event.name,
        properties=event.properties,
        context=event.context or None,
        source=event.source,
        timestamp=event.timestamp,
        received_at=received_at,
        expires_at=received_at + retention,
    )


def store_new_event(item: Event) -> bool:
    """Put the event unless it is stored already (its key holds its id): False then. Jobs name
    the events they emit after themselves, so a page handled again stores nothing twice."""
    try:
        item.save(condition=Event.contact_id.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def save_events(items: Iterable[Event]) -> None:
    """BatchWriteItem, 25 at a time (PynamoDB retries unprocessed items)."""
    with Event.batch_write() as batch:
        for item in items:
            batch.save(item)


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


def timeline(contact_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """Newest first; events past their retention (TTL not yet applied) are left out."""
    now = datetime.now().astimezone()
    events = []
    for item in Event.query(contact_id, scan_index_forward=False, limit=limit):
        if item.expires_at is not None and item.expires_at <= now:
            continue
        event = item.to_simple_dict()
        event.pop("contact_id", None)
        event.pop("event_key", None)
        event.pop("expires_at", None)
        events.append(event)
    return events
