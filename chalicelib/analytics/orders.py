"""Which events are orders, and what they are worth (the same fields ingest counts)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from chalicelib.analytics.tally import money
from chalicelib.core import trust
from chalicelib.events import StoredEvent
from chalicelib.ingest.profile import ORDER_EVENTS, REVENUE_FIELDS, normalised_name


def is_order(event: StoredEvent) -> bool:
    """An order that counts: revenue, buyers, cohorts, attribution and RFM take only orders a
    trusted source proves (a shop webhook, a server key, a signed-in customer), never a claim."""
    return (
        event.type != "identify"
        and normalised_name(event.name) in ORDER_EVENTS
        and trust.counts_orders(event.trust)
    )


def order_value(properties: dict[str, object]) -> Decimal:
    for name in REVENUE_FIELDS:
        value = properties.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return money(value)
        if isinstance(value, str):
            try:
                number = Decimal(value)
            except InvalidOperation:
                continue
            if number.is_finite():
                return number
    return Decimal(0)
