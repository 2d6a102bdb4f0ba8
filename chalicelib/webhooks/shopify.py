"""Shopify webhook topics -> standard events (pure: the parsed body in, `Inbound` events out).

Ids: an order's completion is keyed on the order id, so `orders/create` and `orders/paid` (and
their redeliveries) count one order once; other topics on the checkout, refund or customer id,
or on `X-Shopify-Webhook-Id` for the repeating `checkouts/update`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.webhooks import commerce, fields
from chalicelib.webhooks.inbound import IDENTIFY, Inbound

SOURCE = "shopify"


class _Payload:
    """One topic's body with the fields every mapping needs."""

    def __init__(self, body: dict[str, Any], received: datetime) -> None:
        self.body = body
        self.received = received
        customer = body.get("customer")
        self.customer: dict[str, Any] = customer if isinstance(customer, dict) else {}
        address = body.get("billing_address") or body.get("shipping_address") or {}
        self.address: dict[str, Any] = address if isinstance(address, dict) else {}
        region = str(self.address.get("country_code") or "")
        self.email = fields.email(
            body.get("email") or body.get("contact_email") or self.customer.get("email")
        )
        self.phone = next(
            filter(
                None,
                (
                    fields.phone(candidate, region)
                    for candidate in (
                        body.get("phone"),
                        self.customer.get("phone"),
                        self.address.get("phone"),
                    )
                ),
            ),
            None,
        )
        notes = body.get("note_attributes") or []
        self.anonymous_id, self.attributes = commerce.attributes(
            (note.get("name"), note.get("value")) for note in notes if isinstance(note, dict)
        )

    def at(self, *names: str) -> datetime:
        for name in names:
            if self.body.get(name):
                return fields.timestamp(self.body[name], self.received)
        return self.received

    def event(self, event_id: str, name: str, at: datetime, props: dict[str, Any]) -> Inbound:
        return Inbound(
            event_id=event_id,
            name=name,
            at=at,
            properties=commerce.with_attributes(props, self.attributes),
            email=self.email,
            phone=self.phone,
            anonymous_id=self.anonymous_id,
        )

    def profile(self, event_id: str, at: datetime) -> list[Inbound]:
        """An identify beside the event when the shop knows the person's name (templates greet
        by `contact.first_name`)."""
        traits: dict[str, Any] = {
            name: value
            for name in ("first_name", "last_name")
            if (value := fields.text(self.customer.get(name) or self.address.get(name)))
        }
        consent = _email_consent(self.customer)
        if consent is not None:
            traits["consents"] = {"email": consent}
        if not traits or not (self.email or self.phone):
            return []
        return [
            Inbound(
                event_id=f"{event_id}:profile",
                name=IDENTIFY,
                at=at,
                email=self.email,
                phone=self.phone,
                anonymous_id=self.anonymous_id,
                traits=traits,
            )
        ]

    def items(self) -> list[dict[str, Any]]:
        return [
            commerce.item(
                product_id=line.get("product_id"),
                variant_id=line.get("variant_id"),
                sku=line.get("sku"),
                name=line.get("title") or line.get("name"),
                variant=line.get("variant_title"),
                price=line.get("price"),
                quantity=line.get("quantity"),
            )
            for line in self.body.get("line_items") or []
            if isinstance(line, dict)
        ]

    def codes(self) -> list[str]:
        return [
            code
            for entry in self.body.get("discount_codes") or []
            if isinstance(entry, dict) and (code := fields.text(entry.get("code")))
        ]


def _email_consent(customer: dict[str, Any]) -> bool | None:
    """Only an explicit choice is recorded: "not_subscribed" means the person never chose."""
    state = (customer.get("email_marketing_consent") or {}).get("state")
    return {"subscribed": True, "unsubscribed": False}.get(str(state or ""))


def _checkout(p: _Payload, name: str, webhook_id: str) -> list[Inbound]:
    body = p.body
    checkout_id = fields.text(body.get("id") or body.get("token")) or webhook_id
    items = p.items()
    props = {
        "checkout_id": checkout_id,
        "cart_id": fields.text(body.get("cart_token")),
        "items": items,
        "items_count": commerce.totals(items),
        "total": fields.money(body.get("total_price")),
        "subtotal": fields.money(body.get("subtotal_price")),
        "tax": fields.money(body.get("total_tax")),
        "discount": fields.money(body.get("total_discounts")),
        "currency": fields.text(body.get("currency") or body.get("presentment_currency")),
        "cart_url": fields.text(body.get("abandoned_checkout_url")),
        **commerce.coupon_fields(p.codes()),
    }
    # A checkout starts once; its updates repeat, each delivery being one change.
    event_id = (
        f"checkout:{checkout_id}:started"
        if name == commerce.CHECKOUT_STARTED
        else f"checkout:{checkout_id}:{webhook_id}"
    )
    at = p.at("updated_at", "created_at")
    return [*p.profile(event_id, at), p.event(event_id, name, at, props)]


def _order_props(p: _Payload) -> dict[str, Any]:
    body = p.body
    items = p.items()
    shipping = body.get("total_shipping_price_set") or {}
    tags = [tag.strip() for tag in str(body.get("tags") or "").split(",") if tag.strip()]
    return {
        "order_id": fields.text(body.get("id")),
        "order_number": fields.text(body.get("order_number") or body.get("name")),
        "checkout_id": fields.text(body.get("checkout_id")),
        "cart_id": fields.text(body.get("cart_token")),
        "customer_id": fields.text(p.customer.get("id")),
        "items": items,
        "items_count": commerce.totals(items),
        "total": fields.money(body.get("total_price")),
        "subtotal": fields.money(body.get("subtotal_price")),
        "tax": fields.money(body.get("total_tax")),
        "shipping": fields.money((shipping.get("shop_money") or {}).get("amount")),
        "discount": fields.money(body.get("total_discounts")),
        "currency": fields.text(body.get("currency")),
        "financial_status": fields.text(body.get("financial_status")),
        "tags": tags,
        **commerce.coupon_fields(p.codes()),
    }


def _order(p: _Payload, name: str, webhook_id: str) -> list[Inbound]:
    order_id = fields.text(p.body.get("id")) or webhook_id
    props = _order_props(p)
    if name == commerce.ORDER_CANCELLED:
        props["reason"] = fields.text(p.body.get("cancel_reason"))
        at = p.at("cancelled_at", "updated_at")
        event_id = f"order:{order_id}:cancelled"
    else:
        at = p.at("processed_at", "created_at")
        event_id = f"order:{order_id}:completed"
    return [*p.profile(event_id, at), p.event(event_id, name, at, props)]


def _refund(p: _Payload, name: str, webhook_id: str) -> list[Inbound]:
    """A refund carries no customer: the route finds the order's buyer (see `orders.py`)."""
    body = p.body
    refunded = [
        t
        for t in body.get("transactions") or []
        if isinstance(t, dict) and t.get("kind") == "refund" and t.get("status") != "failure"
    ]
    amount = sum((fields.money(t.get("amount")) or 0.0) for t in refunded)
    items = [
        commerce.item(
            product_id=(line.get("line_item") or {}).get("product_id"),
            name=(line.get("line_item") or {}).get("title"),
            sku=(line.get("line_item") or {}).get("sku"),
            price=(line.get("line_item") or {}).get("price"),
            quantity=line.get("quantity"),
        )
        for line in body.get("refund_line_items") or []
        if isinstance(line, dict)
    ]
    props = {
        "order_id": fields.text(body.get("order_id")),
        "refund_id": fields.text(body.get("id")),
        "amount": round(amount, 2),
        "currency": next((fields.text(t.get("currency")) for t in refunded), None),
        "items": items,
        "note": fields.text(body.get("note")),
    }
    refund_id = fields.text(body.get("id")) or webhook_id
    return [p.event(f"refund:{refund_id}", name, p.at("processed_at", "created_at"), props)]


def _customer(p: _Payload, name: str, webhook_id: str) -> list[Inbound]:
    p.customer = p.body  # the customer is the body itself
    address = p.body.get("default_address")
    if isinstance(address, dict) and not p.phone:
        p.phone = fields.phone(address.get("phone"), str(address.get("country_code") or ""))
    customer_id = fields.text(p.body.get("id")) or webhook_id
    return p.profile(f"customer:{customer_id}:{webhook_id}", p.at("updated_at", "created_at"))


Mapper = Callable[[_Payload, str, str], list[Inbound]]
TOPICS: dict[str, tuple[str, Mapper]] = {
    "checkouts/create": (commerce.CHECKOUT_STARTED, _checkout),
    "checkouts/update": (commerce.CART_UPDATED, _checkout),
    "orders/create": (commerce.ORDER_COMPLETED, _order),
    "orders/paid": (commerce.ORDER_COMPLETED, _order),
    "orders/cancelled": (commerce.ORDER_CANCELLED, _order),
    "refunds/create": (commerce.ORDER_REFUNDED, _refund),
    "customers/create": (IDENTIFY, _customer),
    "customers/update": (IDENTIFY, _customer),
}


def parse(
    topic: str, body: dict[str, Any], webhook_id: str, received: datetime
) -> list[Inbound] | None:
    """The events of one delivery; None for a topic we do not map (answered 200, logged)."""
    mapping = TOPICS.get(topic)
    if mapping is None:
        return None
    name, mapper = mapping
    return mapper(_Payload(body, received), name, webhook_id or fields.digest(body))
