"""A contact's entries of one batch: the profile updated once (counters, firsts and lasts,
traits, touches), consent changes applied, and the events funnels and analytics see."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.eventlog.entry import CONSENT, STATUS, Entry
from chalicelib.events import StoredEvent
from chalicelib.ingest import profile_store
from chalicelib.ingest.profile import ProfileDelta
from chalicelib.ingest.spec import CALL_TYPES
from chalicelib.tracking import consent


def apply(contact_id: str, entries: Sequence[Entry], created: bool) -> list[StoredEvent]:
    """What came in updates the profile; what the worker derived about the contact
    (subject "contact:…": merges, segment changes, opt-outs) only reaches analytics and funnels.
    Returns the events for analytics and the funnels, in order."""
    ordered = sorted(entries, key=lambda entry: (entry.timestamp, entry.position))
    calls = [e for e in ordered if e.type in CALL_TYPES and e.contact_id is None]
    if calls:
        delta = ProfileDelta()
        for entry in calls:
            delta.add(entry)
        contact_id = profile_store.apply(contact_id, delta, created)
    stored: list[StoredEvent] = []
    for entry in ordered:
        if entry.type == STATUS:
            continue  # feedback on a message: see worker.feedback
        if entry.type == CONSENT:
            if not entry.verified:
                continue
            _consent(contact_id, entry)
        stored.append(stored_event(contact_id, entry))
    return stored


def stored_event(contact_id: str, entry: Entry) -> StoredEvent:
    return StoredEvent(
        contact_id=contact_id,
        event_id=entry.event_id,
        type="track" if entry.type == CONSENT else entry.type,
        name=entry.name,
        timestamp=entry.timestamp,
        properties=entry.properties,
        context=entry.context,
        source=entry.source,
    )


def _consent(contact_id: str, entry: Entry) -> None:
    channel = str(entry.properties.get("channel") or "")
    if channel:
        consent.set_consent(
            contact_id, channel, entry.name == "subscribed", source=entry.source, at=entry.timestamp
        )
