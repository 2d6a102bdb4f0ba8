"""The shape shop events share across Shopify, WooCommerce and the generic format, following
Segment's e-commerce spec where the funnels already use it (`total`, `currency`, `items`,
`items_count`, `cart_url`, `coupon`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.webhooks import fields

CHECKOUT_STARTED = "checkout_started"
CART_UPDATED = "cart_updated"
ORDER_COMPLETED = "order_completed"  # counted by ingest: orders_count, total_spent, last order
ORDER_CANCELLED = "order_cancelled"
ORDER_REFUNDED = "order_refunded"
# The snippet's anonymous id, stored by the storefront as a cart attribute (Shopify
# `attributes[_af_anon]`, WooCommerce order meta `_af_anon`): links the order to the visitor.
ANON_ATTRIBUTE = "_af_anon"


def item(
    *,
    product_id: Any,
    name: Any,
    price: Any,
    quantity: Any,
    sku: Any = None,
    variant_id: Any = None,
    variant: Any = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "product_id": fields.text(product_id),
        "variant_id": fields.text(variant_id),
        "sku": fields.text(sku),
        "name": fields.text(name),
        "variant": fields.text(variant),
        "price": fields.money(price),
        "quantity": fields.count(quantity),
    }
    return {key: value for key, value in entry.items() if value is not None}


def attributes(pairs: Iterable[tuple[Any, Any]]) -> tuple[str | None, dict[str, Any]]:
    """(anonymous id, public attributes) from a cart's custom attributes. Names starting with
    "_" are the shop's or a plugin's own and stay out of the event, except ours."""
    anonymous_id: str | None = None
    public: dict[str, Any] = {}
    for raw_name, value in pairs:
        name = fields.text(raw_name)
        if name is None:
            continue
        if name == ANON_ATTRIBUTE:
            anonymous_id = fields.text(value)
        elif not name.startswith("_") and isinstance(value, str | int | float | bool):
            public[name] = value
    return anonymous_id, public


def with_attributes(properties: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Cart attributes become properties funnels can filter on (`where: {tier: tripwire}`);
    the standard fields win a clash."""
    return {**extra, **{key: value for key, value in properties.items() if value is not None}}


def totals(items: list[dict[str, Any]]) -> int:
    return sum(int(entry.get("quantity") or 0) for entry in items)


def coupon_fields(codes: list[str]) -> dict[str, Any]:
    return {"discount_codes": codes, "coupon": codes[0]} if codes else {"discount_codes": []}
