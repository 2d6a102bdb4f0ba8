"""Which events are orders, refunds and cancellations, and what they are worth (the same
fields ingest counts: core/figures.py)."""

from __future__ import annotations

from chalicelib.core import trust
from chalicelib.core.figures import (
    CANCEL_EVENTS,
    ORDER_EVENTS,
    REFUND_EVENTS,
    normalised_name,
    order_value,
)
from chalicelib.events import StoredEvent

__all__ = ["is_cancellation", "is_order", "is_refund", "order_value"]


def _named(event: StoredEvent, names: frozenset[str]) -> bool:
    return event.type != "identify" and normalised_name(event.name) in names


def _proven(event: StoredEvent, names: frozenset[str]) -> bool:
    """Money moves only on what a trusted source proves: a claimed refund takes nothing back,
    as a claimed order adds nothing."""
    return _named(event, names) and trust.counts_orders(event.trust)


def is_order(event: StoredEvent) -> bool:
    """An order that counts: revenue, buyers, cohorts, attribution and RFM take only orders a
    trusted source proves (a shop webhook, a server key, a signed-in customer), never a claim."""
    return _proven(event, ORDER_EVENTS)


def is_refund(event: StoredEvent) -> bool:
    return _proven(event, REFUND_EVENTS)


def is_cancellation(event: StoredEvent) -> bool:
    return _proven(event, CANCEL_EVENTS)
