"""Last-touch attribution: an order is credited to the funnel message the contact last opened,
clicked or replied to within the attribution window before the order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.analytics import keys
from chalicelib.analytics.tally import Tally
from chalicelib.storage import messages as message_store
from chalicelib.storage.models import Message

TOUCHES = ("clicked", "opened", "replied")
LOOK_BACK = 50  # the contact's newest messages before the order that may hold the last touch


def last_touched(contact_id: str, order_at: datetime, window: timedelta) -> Message | None:
    keys_only = Message.by_contact.query(
        contact_id, Message.created_at <= order_at, scan_index_forward=False, limit=LOOK_BACK
    )
    best: tuple[datetime, Message] | None = None
    for message in message_store.fetch(keys_only):
        if not message.funnel:
            continue
        touched = touched_at(list(message.status_history or ()), order_at, window)
        if touched is not None and (best is None or touched > best[0]):
            best = (touched, message)
    return best[1] if best else None


def touched_at(
    history: Sequence[Mapping[str, Any]], order_at: datetime, window: timedelta
) -> datetime | None:
    """The latest touch of a message inside [order_at - window, order_at], if any."""
    times = [
        datetime.fromisoformat(str(entry.get("at")))
        for entry in history
        if entry.get("status") in TOUCHES and entry.get("at")
    ]
    inside = [t for t in times if order_at - window <= t <= order_at]
    return max(inside) if inside else None


def credit(message: Message, value: Decimal, at: datetime, orders: int = 1) -> Tally:
    """Credit an order (or, negative, take back a refunded or cancelled one's credit)."""
    tally = Tally()
    scope = keys.funnel_scope(str(message.funnel), int(message.funnel_version or 0))
    tally.add(scope, "attributed_orders", orders)
    tally.add(scope, "attributed_revenue", value)
    tally.add(scope, keys.step_metric(message.step_id, "attributed_orders"), orders)
    tally.add(scope, keys.step_metric(message.step_id, "attributed_revenue"), value)
    if message.template_id:
        template = keys.TEMPLATES_SCOPE
        tally.add(
            template,
            keys.template_metric(message.funnel, message.template_id, message.channel, "orders"),
            orders,
        )
        tally.add(
            template,
            keys.template_metric(message.funnel, message.template_id, message.channel, "revenue"),
            value,
        )
    tally.add(keys.day_scope(at), keys.day_metric(at, "attributed_revenue"), value)
    return tally
