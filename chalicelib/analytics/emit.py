"""Events analytics emits for funnels to react to (`segment_entered`, `segment_left`,
`rfm_segment_changed`): stored on the contact's timeline, then handed to the event sink."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib import wiring
from chalicelib.events import StoredEvent
from chalicelib.storage.contacts import event_item, save_events

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
    if not events:
        return
    settings = wiring.storage()
    now = wiring.clock()()
    retention = timedelta(days=settings.event_retention_days)
    save_events(event_item(e, now, retention) for e in events)
    wiring.event_sink().handle(events)
