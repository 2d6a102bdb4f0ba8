"""What a request's calls change in each contact's profile (pure): counters, first/last seen,
touches, traits, consents and orders, aggregated per contact so that one UpdateItem per contact
per request applies them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.core import trust
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
    # Guards against applying entries twice: name -> (first, last) log position of this delta's
    # entries under one subject (see profile_store).
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, call: Call) -> None:
        """Calls must be added in time order (newest trait wins). What the trust rules allow
        (chalicelib.core.trust): a call that may not change the contact (`changes` false)
        adds only to its counters; orders count when their source proves them; a claim's SMS
        or WhatsApp consent is not consent but a request for a double opt-in."""
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
        if is_order(call) and trust.counts_orders(call.trust):
            self.orders += 1
            self.spent += order_value(call.properties)
            self.last_order_at = max(filter(None, (self.last_order_at, at)))
        if call.type == "identify" and getattr(call, "changes", True):
            self._identify(call)

    def _identify(self, call: Call) -> None:
        for name, value in call.traits.items():
            if name == CONSENT_TRAIT and isinstance(value, dict):
                for channel, granted in value.items():
                    if not isinstance(granted, bool) or not channel:
                        continue
                    if granted and not trust.may_grant(call.trust, channel):
                        continue  # a claimed SMS/WhatsApp consent: see `opt_in_channels`
                    self.consents[channel] = {
                        "granted": granted,
                        "at": call.timestamp.isoformat(),
                        "source": "identify",
                    }
            elif name:
                self.traits[name] = value


def opt_in_channels(call: Any) -> set[str]:
    """The channels a call asks consent for that its source cannot give (a claim's SMS or
    WhatsApp): each takes a double opt-in (chalicelib.tracking.opt_in)."""
    if call.type != "identify" or not getattr(call, "changes", True):
        return set()
    asked = call.traits.get(CONSENT_TRAIT)
    if not isinstance(asked, dict):
        return set()
    return {
        channel
        for channel, granted in asked.items()
        if granted is True and channel and not trust.may_grant(call.trust, channel)
    }


def is_order(call: Any) -> bool:
    """An order event (Segment's "Order Completed"), from any source: whether it counts is the
    trust rules' call (`trust.counts_orders`)."""
    return call.type == "track" and normalised_name(call.name) in ORDER_EVENTS
