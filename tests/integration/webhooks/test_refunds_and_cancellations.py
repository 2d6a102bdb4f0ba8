"""Refunds and cancellations take back what their order counted, exactly once: the contact's
orders_count and total_spent (what conditions see), analytics' LTV, the day's revenue."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from chalice.test import Client

from chalicelib.storage.models import Contact, ContactStats
from tests.conftest import WRITE_KEY
from tests.integration.webhooks.conftest import SECRETS, find_contact, hex_hmac, post_signed

BUYER = {"email": "rita@example.com", "first_name": "Rita"}


def shop(api: Client, event_id: str, kind: str, order: dict[str, Any], **extra: Any) -> None:
    raw = json.dumps(
        {
            "id": event_id,
            "type": kind,
            "timestamp": "2024-03-04T10:00:00Z",
            "customer": BUYER,
            "order": order,
            **extra,
        }
    ).encode()
    signature = hex_hmac(SECRETS["SHOP_TILDA_SECRET"], raw)
    response = post_signed(api, "/webhooks/shop/tilda", raw, {"X-Autofunnel-Signature": signature})
    assert response.status_code == 200, response.body


def figures(api: Client, admin_headers: dict[str, str]) -> tuple[int, float, int, float]:
    found = find_contact(api, admin_headers, email=BUYER["email"])
    assert found is not None
    contact = Contact.get(found["contact_id"])
    stats = ContactStats.get(found["contact_id"])
    return (
        int(contact.orders_count),
        float(contact.total_spent),
        int(stats.orders),
        float(stats.revenue),
    )


def day(api: Client, admin_headers: dict[str, str]) -> dict[str, Any]:
    response = api.http.get(
        "/admin/stats/days?from=2024-03-04&to=2024-03-04", headers=admin_headers
    )
    assert response.status_code == 200, response.body
    (row,) = response.json_body["days"]
    assert row["date"] == str(date(2024, 3, 4))
    return row


def test_refunds_and_cancellations_take_back_what_the_order_counted(
    api: Client, admin_headers: dict[str, str]
) -> None:
    shop(api, "o1", "order_completed", {"id": "1001", "total": 120})
    shop(api, "o2", "order_completed", {"id": "1002", "total": 80})
    assert figures(api, admin_headers) == (2, 200, 2, 200)

    # A partial refund lowers the value; the order still counts. A replay changes nothing.
    shop(api, "r1", "order_refunded", {"id": "1001"}, properties={"amount": 20})
    shop(api, "r1", "order_refunded", {"id": "1001"}, properties={"amount": 20})
    assert figures(api, admin_headers) == (2, 180, 2, 180)

    # Refunded in full: the order no longer counts at all.
    shop(api, "r2", "order_refunded", {"id": "1001"}, properties={"amount": 100})
    assert figures(api, admin_headers) == (1, 80, 1, 80)

    # Cancelled: the other order goes too; cancelling it again takes nothing more.
    shop(api, "c1", "order_cancelled", {"id": "1002", "total": 80})
    shop(api, "c2", "order_cancelled", {"id": "1002", "total": 80})
    assert figures(api, admin_headers) == (0, 0, 0, 0)

    figures_of_the_day = day(api, admin_headers)
    assert figures_of_the_day["orders"] == 0
    assert figures_of_the_day["revenue"] == 0
    assert figures_of_the_day["refunds"] == 120
    assert figures_of_the_day["cancellations"] == 2


def test_a_cancellation_before_its_order_and_an_order_reported_twice(
    api: Client, admin_headers: dict[str, str]
) -> None:
    shop(api, "c9", "order_cancelled", {"id": "2001", "total": 50})
    shop(api, "o9", "order_completed", {"id": "2001", "total": 50})
    assert figures(api, admin_headers) == (0, 0, 0, 0)

    # The same order from two sources (the storefront's own tracking and the shop): once.
    shop(api, "o10", "order_completed", {"id": "2002", "total": 70})
    calls = [
        {"type": "identify", "userId": "rita", "traits": {"email": BUYER["email"]}},
        {
            "type": "track",
            "userId": "rita",
            "event": "Order Completed",
            "properties": {"order_id": "2002", "total": 70},
        },
    ]
    response = api.http.post(
        "/v1/batch",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"batch": calls, "writeKey": WRITE_KEY}),
    )
    assert response.status_code == 200, response.body
    assert figures(api, admin_headers) == (1, 70, 1, 70)
