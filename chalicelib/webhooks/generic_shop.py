"""The generic shop format: any shop that can POST JSON (Tilda, Bitrix, a custom backend)
sends one event per request, signed with `X-Autofunnel-Signature: sha256=<hex HMAC-SHA256 of
the raw body>` (README: "Any other shop").

    {"id": "evt-1042", "type": "order_completed", "timestamp": "2024-03-04T10:00:00Z",
     "customer": {"email": "anna@example.com", "phone": "+4915112345678", "first_name": "Anna"},
     "anonymous_id": "<autofunnel.anonymousId() from the snippet>",
     "order": {"id": "1042", "total": 49.0, "currency": "EUR", "discount_codes": ["SPRING"],
               "url": "https://shop.example/cart/1042",
               "items": [{"product_id": "mug", "sku": "MUG-350", "name": "Mug", "price": 49.0,
                          "quantity": 1}]},
     "properties": {"tier": "tripwire"}}

`type` is a standard event (order_completed, order_cancelled, order_refunded,
checkout_started, cart_updated), "customer" (a profile update) or any snake_case name.
An order_completed is keyed on `order.id`, so an order counts once whatever `id` it is sent with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.webhooks import commerce, fields
from chalicelib.webhooks.inbound import IDENTIFY, Inbound

CUSTOMER = "customer"
ID = Field(min_length=1, max_length=200)


class FormatError(ValueError):
    """The body does not follow the generic format; the message says where."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class Customer(_Model):
    id: str | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    country: str | None = None  # ISO code: for phone numbers written without "+"


class Item(_Model):
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    name: str | None = None
    variant: str | None = None
    price: float | None = None
    quantity: int = 1


class Order(_Model):
    id: str = ID
    number: str | None = None
    total: float | None = None
    subtotal: float | None = None
    tax: float | None = None
    shipping: float | None = None
    discount: float | None = None
    currency: str | None = None
    discount_codes: list[str] = Field(default_factory=list)
    url: str | None = None  # where the person can resume this cart or checkout
    items: list[Item] = Field(default_factory=list)


class ShopEvent(_Model):
    id: str = ID
    type: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    timestamp: datetime | None = None
    customer: Customer | None = None
    anonymous_id: str | None = Field(None, max_length=512)
    order: Order | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


def parse(body: Any, received: datetime) -> list[Inbound]:
    try:
        shop_event = ShopEvent.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise FormatError(f"{where}: {first['msg']}") from error
    customer = shop_event.customer or Customer()
    email = fields.email(customer.email)
    phone = fields.phone(customer.phone, customer.country or "")
    if not (email or phone or shop_event.anonymous_id):
        raise FormatError("customer.email, customer.phone or anonymous_id must identify someone")
    at = (
        fields.timestamp(shop_event.timestamp.isoformat(), received)
        if shop_event.timestamp
        else received
    )
    if shop_event.type == CUSTOMER:
        traits = customer.model_dump(exclude_none=True, exclude={"email", "phone", "country"})
        if "id" in traits:
            traits["customer_id"] = traits.pop("id")
        return [
            Inbound(
                shop_event.id,
                IDENTIFY,
                at,
                email=email,
                phone=phone,
                anonymous_id=shop_event.anonymous_id,
                traits={**traits, **shop_event.properties},
            )
        ]
    props: dict[str, Any] = {}
    event_id = shop_event.id
    if shop_event.order is not None:
        props = _order_props(shop_event.order, customer)
        if shop_event.type == commerce.ORDER_COMPLETED:
            event_id = f"order:{shop_event.order.id}:completed"
    return [
        Inbound(
            event_id,
            shop_event.type,
            at,
            commerce.with_attributes(props, shop_event.properties),
            email=email,
            phone=phone,
            anonymous_id=shop_event.anonymous_id,
        )
    ]


def _order_props(order: Order, customer: Customer) -> dict[str, Any]:
    items = [
        commerce.item(
            product_id=item.product_id,
            variant_id=item.variant_id,
            sku=item.sku,
            name=item.name,
            variant=item.variant,
            price=item.price,
            quantity=item.quantity,
        )
        for item in order.items
    ]
    props: dict[str, Any] = {
        "order_id": order.id,
        "order_number": order.number,
        "customer_id": customer.id,
        "items": items,
        "items_count": commerce.totals(items),
        "total": fields.money(order.total),
        "subtotal": fields.money(order.subtotal),
        "tax": fields.money(order.tax),
        "shipping": fields.money(order.shipping),
        "discount": fields.money(order.discount),
        "currency": order.currency,
        "cart_url": order.url,
        **commerce.coupon_fields(order.discount_codes),
    }
    return {key: value for key, value in props.items() if value is not None}
