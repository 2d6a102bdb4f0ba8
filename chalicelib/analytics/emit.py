"""Events analytics emits for funnels to react to (`segment_entered`, `segment_left`,
`rfm_segment_changed`): appended to the event log under the contact, where the worker hands them
to analytics and the funnels like any other event (and the contact's timeline shows them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import VERIFIED, Entry, contact_subject
from chalicelib.events import StoredEvent

SOURCE = "analytics"


def event(contact_id: str, name: str, at: datetime, **properties: Any) -> StoredEvent:
    detail = "-".join(str(v) for v in properties.values() if v is not None)
    return StoredEvent(
        contact_id=contact_id,
        event_id=f"{name}-{detail}-{at.isoformat()}",  # one per change and moment: replay-safe
        type="track",
        name=name,
        timestamp=at,
        properties={k: v for k, v in properties.items() if v is not None},
        source=SOURCE,
    )


def emit(events: Sequence[StoredEvent]) -> None:
    if events:
        append([entry_of(event) for event in events], datetime.now(UTC))


def entry_of(event: StoredEvent) -> Entry:
    return Entry(
        subject=contact_subject(event.contact_id),
        event_id=event.event_id,
        type=event.type,
        name=event.name,
        timestamp=event.timestamp,
        properties=event.properties,
        source=event.source,
        trust=VERIFIED,
    )
