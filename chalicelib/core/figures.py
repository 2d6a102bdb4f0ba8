"""Contact figures: what the system itself knows about a contact, beside its attributes.

Attributes are what people and shops tell us (traits); figures are kept by Autofunnel from what
it saw (orders, visits, first and last touch, RFM) and can only come from there. Conditions
(`attributes:` filters), saved segments and templates (`{{ contact.orders_count }}`) see both;
a figure always wins over an attribute of the same name, so a trait sent from a web page can
never fake a customer's orders or spend.

    FIGURES            name -> what it holds (docs/funnels.md lists the same)
    unknown_field(path, known)  the validator's message for a field nobody provides, or None
    after_event(...)   how an event changes the figures (the simulator's model of ingest)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

FIGURES: dict[str, str] = {
    "orders_count": "orders placed (a cancelled or fully refunded order no longer counts)",
    "total_spent": "the sum of those orders, less refunds",
    "lifetime_value": "the same as total_spent (historical LTV)",
    "last_order_at": "time of the newest order (ISO 8601, UTC)",
    "first_seen": "time of the contact's first event (ISO 8601, UTC)",
    "last_seen": "time of the contact's newest event (ISO 8601, UTC)",
    "sessions": "visits to the site (30 minutes without activity end one)",
    "page_views": "pages viewed on the site",
    "first_touch": "the first visit's source: first_touch.source, .medium, .campaign, ...",
    "last_touch": "the newest visit's source, same fields as first_touch",
    "rfm_segment": "champions, loyal, potential, new, at_risk, cant_lose, hibernating or lost",
    "consents": "consents.<channel>: false once the person opted out of that channel",
    "timezone": "the contact's IANA time zone, when known",
}
TOUCH_FIELDS: dict[str, str] = {
    "source": "utm_source, else the referring site's host, else 'direct'",
    "medium": "utm_medium",
    "campaign": "utm_campaign",
    "term": "utm_term",
    "content": "utm_content",
    "referrer": "the referring page (outside visits only)",
    "landing_page": "the URL the visit started on",
    "at": "time of the visit (ISO 8601, UTC)",
}
CONSENT_CHANNELS = ("email", "sms", "whatsapp", "telegram", "messenger", "instagram")
_NESTED = {
    "first_touch": tuple(TOUCH_FIELDS),
    "last_touch": tuple(TOUCH_FIELDS),
    "consents": CONSENT_CHANNELS,
}
ORDER_EVENTS = frozenset({"order_completed"})
REFUND_EVENTS = frozenset({"order_refunded"})
CANCEL_EVENTS = frozenset({"order_cancelled"})
REVENUE_FIELDS = ("total", "revenue", "value")
MAX_ORDER_TOTAL = Decimal("1e12")  # beyond any shop's order
_NEAR = 0.88  # how alike a name must be to a figure's to be taken for a typo of it


def normalised_name(name: str) -> str:
    """ "Order Completed" (Segment's e-commerce spec) and "order_completed" are one event."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def order_value(properties: Mapping[str, Any], fields: tuple[str, ...] = REVENUE_FIELDS) -> Decimal:
    """An order's (or refund's) amount: the first numeric field of `fields`, exactly; an
    amount no shop's order reaches is a typo or an attack, not revenue."""
    for name in fields:
        value = properties.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = Decimal(str(value))
        elif isinstance(value, str):
            try:
                number = Decimal(value)
            except (InvalidOperation, ArithmeticError):
                continue
        else:
            continue
        if number.is_finite() and abs(number) < MAX_ORDER_TOTAL:
            return number
    return Decimal(0)


def unknown_field(path: str, known: set[str] | None = None, prefix: str = "") -> str | None:
    """Why `path` (a key of an `attributes:` filter, or what follows `contact.` in a template)
    names nothing, or None. `known`: the attributes the funnel's `sample.contact` declares
    (None: attributes are open-ended, only typos of figures and their fields are caught).
    `prefix` is how the message names the field (templates: "contact.")."""
    head, _, rest = path.partition(".")
    if head in FIGURES:
        choices = _NESTED.get(head)
        if rest and choices is None:
            return f"'{prefix}{head}' is a single value, it has no field '{rest}'"
        field = rest.split(".", 1)[0]
        if rest and choices is not None and field not in choices:
            return f"unknown field '{prefix}{head}.{field}' (known: {', '.join(choices)})"
        return None
    if known is not None:
        if head in known:
            return None
        return f"'{prefix}{head}' is not in sample.contact"
    import difflib  # only a funnel being validated gets here, not the worker's graph

    near = difflib.get_close_matches(head, FIGURES, n=1, cutoff=_NEAR)
    if near:
        return (
            f"unknown field '{prefix}{head}' (did you mean the figure '{near[0]}'? an attribute "
            "of your own by that name: declare it in sample.contact)"
        )
    return None


def after_event(
    figures: Mapping[str, Any], name: str, properties: Mapping[str, Any], at: datetime
) -> dict[str, Any]:
    """The figures after an event, as ingest would keep them (for the simulator): orders add
    up, refunds and cancellations take away, page views and first/last seen move."""
    out = dict(figures)
    stamp = at.isoformat()
    out.setdefault("first_seen", stamp)
    out["last_seen"] = max(str(out.get("last_seen") or ""), stamp)
    event = normalised_name(name)
    spent = Decimal(str(out.get("total_spent") or 0))
    if event in ORDER_EVENTS:
        out["orders_count"] = int(out.get("orders_count") or 0) + 1
        spent += order_value(properties)
        out["last_order_at"] = max(str(out.get("last_order_at") or ""), stamp)
    elif event in REFUND_EVENTS:
        spent -= min(spent, order_value(properties, ("amount", *REVENUE_FIELDS)))
    elif event in CANCEL_EVENTS:
        out["orders_count"] = max(0, int(out.get("orders_count") or 0) - 1)
        spent -= min(spent, order_value(properties))
    elif name == "page":
        out["page_views"] = int(out.get("page_views") or 0) + 1
    number = int(spent) if spent == spent.to_integral_value() else float(spent)
    out["total_spent"] = out["lifetime_value"] = number
    return out
