"""Which events are orders, refunds and cancellations, and what they are worth (the same
fields ingest counts: core/figures.py)."""

from __future__ import annotations

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


def is_order(event: StoredEvent) -> bool:
    return _named(event, ORDER_EVENTS)


def is_refund(event: StoredEvent) -> bool:
    return _named(event, REFUND_EVENTS)


def is_cancellation(event: StoredEvent) -> bool:
    return _named(event, CANCEL_EVENTS)
