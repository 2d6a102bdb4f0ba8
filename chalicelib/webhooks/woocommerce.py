"""WooCommerce webhook topics -> standard events (pure).

WooCommerce sends `order.created` / `order.updated` as the order's status moves; the status
decides the event: pending, on-hold, failed or a checkout draft is a started checkout,
processing or completed a completed order (keyed on the order id: counted once however many
updates repeat it), cancelled and refunded likewise once each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.webhooks import commerce, fields
from chalicelib.webhooks.inbound import IDENTIFY, Inbound

SOURCE = "woocommerce"
ORDER_TOPICS = {"order.created", "order.updated"}
CUSTOMER_TOPICS = {"customer.created", "customer.updated"}
BY_STATUS = {
    "pending": commerce.CHECKOUT_STARTED,
    "on-hold": commerce.CHECKOUT_STARTED,
    "failed": commerce.CHECKOUT_STARTED,
    "checkout-draft": commerce.CHECKOUT_STARTED,
    "processing": commerce.ORDER_COMPLETED,
    "completed": commerce.ORDER_COMPLETED,
    "cancelled": commerce.ORDER_CANCELLED,
    "refunded": commerce.ORDER_REFUNDED,
}
SUFFIX = {
    commerce.CHECKOUT_STARTED: "checkout",
    commerce.ORDER_COMPLETED: "completed",
    commerce.ORDER_CANCELLED: "cancelled",
    commerce.ORDER_REFUNDED: "refunded",
}
WHEN = {  # which date says when it happened (the *_gmt fields are UTC without an offset)
    commerce.CHECKOUT_STARTED: ("date_created_gmt", "date_created"),
    commerce.ORDER_COMPLETED: ("date_paid_gmt", "date_created_gmt", "date_created"),
    commerce.ORDER_CANCELLED: ("date_modified_gmt", "date_modified"),
    commerce.ORDER_REFUNDED: ("date_modified_gmt", "date_modified"),
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _at(body: dict[str, Any], names: tuple[str, ...], received: datetime) -> datetime:
    for name in names:
        if body.get(name):
            return fields.timestamp(body[name], received)
    return received


def _who(body: dict[str, Any]) -> tuple[str | None, str | None, dict[str, Any]]:
    billing = _dict(body.get("billing"))
    email = fields.email(billing.get("email") or body.get("email"))
    phone = fields.phone(billing.get("phone"), str(billing.get("country") or ""))
    names = {
        name: value
        for name in ("first_name", "last_name")
        if (value := fields.text(billing.get(name) or body.get(name)))
    }
    return email, phone, names


def _order(body: dict[str, Any], received: datetime) -> list[Inbound]:
    name = BY_STATUS.get(str(body.get("status") or ""))
    order_id = fields.text(body.get("id"))
    if name is None or order_id is None:
        return []
    email, phone, names = _who(body)
    anonymous_id, extra = commerce.attributes(
        (meta.get("key"), meta.get("value"))
        for meta in body.get("meta_data") or []
        if isinstance(meta, dict)
    )
    items = [
        commerce.item(
            product_id=line.get("product_id"),
            variant_id=line.get("variation_id") or None,
            sku=line.get("sku"),
            name=line.get("name"),
            price=line.get("price"),
            quantity=line.get("quantity"),
        )
        for line in body.get("line_items") or []
        if isinstance(line, dict)
    ]
    codes = [
        code
        for line in body.get("coupon_lines") or []
        if isinstance(line, dict) and (code := fields.text(line.get("code")))
    ]
    props = {
        "order_id": order_id,
        "order_number": fields.text(body.get("number")),
        "customer_id": fields.text(body.get("customer_id") or None),
        "status": fields.text(body.get("status")),
        "items": items,
        "items_count": commerce.totals(items),
        "total": fields.money(body.get("total")),
        "tax": fields.money(body.get("total_tax")),
        "shipping": fields.money(body.get("shipping_total")),
        "discount": fields.money(body.get("discount_total")),
        "currency": fields.text(body.get("currency")),
        "payment_method": fields.text(body.get("payment_method")),
        **commerce.coupon_fields(codes),
    }
    if name == commerce.CHECKOUT_STARTED and body.get("payment_url"):
        props["cart_url"] = fields.text(body.get("payment_url"))
    at = _at(body, WHEN[name], received)
    event_id = f"order:{order_id}:{SUFFIX[name]}"
    events = []
    if names and (email or phone):
        events.append(
            Inbound(
                f"{event_id}:profile",
                IDENTIFY,
                at,
                email=email,
                phone=phone,
                anonymous_id=anonymous_id,
                traits=names,
            )
        )
    events.append(
        Inbound(
            event_id,
            name,
            at,
            commerce.with_attributes(props, extra),
            email=email,
            phone=phone,
            anonymous_id=anonymous_id,
        )
    )
    return events


def _customer(body: dict[str, Any], received: datetime, delivery_id: str) -> list[Inbound]:
    email, phone, names = _who(body)
    email = fields.email(body.get("email")) or email
    if not (email or phone):
        return []
    customer_id = fields.text(body.get("id")) or "guest"
    at = _at(body, ("date_modified_gmt", "date_created_gmt"), received)
    return [
        Inbound(
            f"customer:{customer_id}:{delivery_id}",
            IDENTIFY,
            at,
            email=email,
            phone=phone,
            traits=names,
        )
    ]


def parse(
    topic: str, body: dict[str, Any], delivery_id: str, received: datetime
) -> list[Inbound] | None:
    """The events of one delivery; None for a topic we do not map (answered 200, logged)."""
    if topic in ORDER_TOPICS:
        return _order(body, received)
    if topic in CUSTOMER_TOPICS:
        return _customer(body, received, delivery_id or fields.digest(body))
    return None
