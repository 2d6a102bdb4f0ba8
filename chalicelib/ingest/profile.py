"""What a request's calls change in each contact's profile (pure): counters, first/last seen,
touches, traits, consents and orders, aggregated per contact so that one UpdateItem per contact
per request applies them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.core.figures import ORDER_EVENTS, normalised_name, order_value
from chalicelib.ingest.spec import Call
from chalicelib.ingest.touch import touch_of

CONSENT_TRAIT = "consents"  # identify traits {"consents": {"email": true, "sms": false}}


@dataclass
class ProfileDelta:
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    first_touch: dict[str, Any] | None = None
    last_touch: dict[str, Any] | None = None
    sessions: int = 0
    page_views: int = 0
    orders: int = 0
    spent: Decimal = Decimal(0)
    last_order_at: datetime | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    consents: dict[str, dict[str, Any]] = field(default_factory=dict)
    timezone: str | None = None

    def add(self, call: Call) -> None:
        """Calls must be added in time order (newest trait wins)."""
        at = call.timestamp
        self.first_seen = at if self.first_seen is None else min(self.first_seen, at)
        self.last_seen = at if self.last_seen is None else max(self.last_seen, at)
        if call.context.get("sessionStart") is True:
            self.sessions += 1
        if call.type in ("page", "screen"):
            self.page_views += 1
        if isinstance(call.context.get("timezone"), str):
            self.timezone = call.context["timezone"]
        touched = touch_of(call)
        if touched is not None:
            touch, is_new = touched
            self.first_touch = self.first_touch or touch
            if is_new:
                self.last_touch = touch
        if call.type == "track" and normalised_name(call.name) in ORDER_EVENTS:
            self.orders += 1
            self.spent += order_value(call.properties)
            self.last_order_at = max(filter(None, (self.last_order_at, at)))
        if call.type == "identify":
            self._identify(call)

    def _identify(self, call: Call) -> None:
        for name, value in call.traits.items():
            if name == CONSENT_TRAIT and isinstance(value, dict):
                for channel, granted in value.items():
                    if isinstance(granted, bool) and channel:
                        self.consents[channel] = {
                            "granted": granted,
                            "at": call.timestamp.isoformat(),
                            "source": "identify",
                        }
            elif name:
                self.traits[name] = value
