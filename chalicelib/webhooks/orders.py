"""Who bought an order, remembered for the webhooks that name only the order (Shopify's
refunds/create carries no customer). One small item per order in the receipts table, kept as
long as events are."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from chalicelib.storage.models import Receipt
from chalicelib.webhooks import commerce
from chalicelib.webhooks.inbound import Inbound

log = logging.getLogger(__name__)
_BUYER_FIELDS = ("email", "phone", "anonymous_id")


def _key(namespace: str, order_id: str) -> str:
    return f"order-buyer:{namespace}:{order_id}"


def _identified(event: Inbound) -> bool:
    return bool(event.email or event.phone or event.anonymous_id or event.identities)


def remember(events: Sequence[Inbound], namespace: str, now: datetime, keep: timedelta) -> None:
    for event in events:
        order_id = event.properties.get("order_id")
        if not order_id or event.name == commerce.ORDER_REFUNDED or not _identified(event):
            continue
        buyer = {name: getattr(event, name) for name in _BUYER_FIELDS if getattr(event, name)}
        Receipt(
            _key(namespace, str(order_id)), created_at=now, result=buyer, expires_at=now + keep
        ).save()


def with_buyers(events: Sequence[Inbound], namespace: str) -> list[Inbound]:
    """Refunds that name only their order get its buyer; one whose order we never saw is
    dropped (logged): it cannot be put on anyone's timeline."""
    ready: list[Inbound] = []
    for event in events:
        if _identified(event):
            ready.append(event)
            continue
        order_id = str(event.properties.get("order_id") or "")
        buyer = _recall(namespace, order_id) if order_id else {}
        if not buyer:
            log.info("%s: %s for unknown order %r ignored", namespace, event.name, order_id)
            continue
        ready.append(
            dataclasses.replace(
                event,
                email=buyer.get("email"),
                phone=buyer.get("phone"),
                anonymous_id=buyer.get("anonymous_id"),
            )
        )
    return ready


def _recall(namespace: str, order_id: str) -> dict[str, str]:
    try:
        return dict(Receipt.get(_key(namespace, order_id)).result or {})
    except Receipt.DoesNotExist:
        return {}
