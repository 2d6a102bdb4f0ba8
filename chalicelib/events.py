"""A stored event as the worker hands it to analytics and the funnels: a log entry resolved to
the contact it is about."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.core.trust import CLAIM


@dataclass(frozen=True)
class StoredEvent:
    contact_id: str
    event_id: str  # unique per source (Segment messageId, webhook delivery id...)
    type: str  # track | identify | page | screen | alias | group | merge
    name: str  # the event name funnels match on ("cart_updated", "page_viewed", ...)
    timestamp: datetime  # when it happened (aware, UTC)
    properties: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    source: str = "api"
    trust: str = CLAIM  # what its source proves (chalicelib.core.trust): orders count if proven
    position: str = ""  # the log entry's place in the stream (the worker's batch tally)
