"""The handoff from ingestion to the funnels: every stored event goes through an EventSink.

Routes (the Segment-compatible ingest API, shop and messenger webhooks) normalise their input
into StoredEvent and call `wiring.event_sink().handle(...)` after the event is stored; the
runtime implements the sink by matching the events against funnels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chalicelib.core.trust import CLAIM


@dataclass(frozen=True)
class StoredEvent:
    contact_id: str
    event_id: str  # unique per source (Segment messageId, webhook delivery id...)
    type: str  # track | identify | page | screen | alias | group | webhook
    name: str  # the event name funnels match on ("cart_updated", "page_viewed", ...)
    timestamp: datetime  # when it happened (aware, UTC)
    properties: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    source: str = "api"
    trust: str = CLAIM  # what its source proves (chalicelib.core.trust): orders count if proven


class EventSink(Protocol):
    def handle(self, events: Sequence[StoredEvent]) -> None:
        """Called once per request with the events it stored (new ones only, never replays)."""


class RecordingSink:
    """Keeps what it is handed; the default until funnels run, and a test double after."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    def handle(self, events: Sequence[StoredEvent]) -> None:
        self.events.extend(events)
