"""Shop webhooks over HTTP: Shopify, WooCommerce and the generic signed format. Bodies come
from the providers' documented examples (tests/fixtures) and are signed as each provider signs."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from chalice.test import Client

from tests.conftest import WRITE_KEY
from tests.integration.webhooks.conftest import (
    SECRETS,
    b64_hmac,
    body_of,
    find_contact,
    fixture,
    hex_hmac,
    names,
    post_signed,
    unset,
)

SHOPIFY = "/webhooks/shopify"
WOO = "/webhooks/woocommerce"
SHOP = "/webhooks/shop/tilda"


def shopify(
    api: Client, topic: str, payload: Any, webhook_id: str, secret: str | None = None
) -> Any:
    raw = body_of(payload)
    return post_signed(
        api,
        SHOPIFY,
        raw,
        {
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": b64_hmac(secret or SECRETS["SHOPIFY_WEBHOOK_SECRET"], raw),
            "X-Shopify-Shop-Domain": "jsmith.myshopify.com",
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-API-Version": "2024-01",
        },
    )


def woo(api: Client, topic: str, payload: Any, delivery: str, secret: str | None = None) -> Any:
    raw = body_of(payload)
    resource, _, event = topic.partition(".")
    return post_signed(
        api,
        WOO,
        raw,
        {
            "X-WC-Webhook-Source": "https://shop.example.com/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": b64_hmac(
                secret or SECRETS["WOOCOMMERCE_WEBHOOK_SECRET"], raw
            ),
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": delivery,
        },
    )


def last(contact: dict[str, Any], name: str) -> dict[str, Any]:
    return next(event for event in contact["timeline"] if event["name"] == name)


# --- Shopify ---------------------------------------------------------------------------------


def test_a_shopify_order_lands_on_the_buyer_with_items_totals_and_profile_counters(
    api: Client, admin_headers: dict[str, str]
) -> None:
    response = shopify(api, "orders/create", fixture("shopify/orders_create.json"), "wh-1")
    assert response.status_code == 200, response.body
    assert response.json_body["stored"] == ["identify", "order_completed"]

    contact = find_contact(api, admin_headers, email="jon@example.com")
    assert contact is not None
    order = last(contact, "order_completed")
    assert order["source"] == "shopify"
    props = order["properties"]
    assert props["order_id"] == "820982911946154508"
    assert (props["total"], props["currency"], props["shipping"]) == (403.0, "USD", 10.0)
    assert [item["name"] for item in props["items"]] == [
        "Aviator sunglasses",
        "Mid-century lounger",
        "Coffee table",
    ]
    assert props["items"][0] == {
        "product_id": "788032119674292922",
        "sku": "SKU2006-001",
        "name": "Aviator sunglasses",
        "price": 89.99,
        "quantity": 1,
    }
    assert props["items_count"] == 3 and props["discount_codes"] == []
    assert contact["attributes"]["first_name"] == "John"
    assert contact["orders_count"] == 1 and contact["total_spent"] == 403
    assert contact["last_order_at"].startswith("2022-01-01T00:00:00")


def test_replays_and_orders_paid_count_the_order_once(
    api: Client, admin_headers: dict[str, str]
) -> None:
    order = fixture("shopify/orders_create.json")
    assert shopify(api, "orders/create", order, "wh-1").status_code == 200
    replay = shopify(api, "orders/create", order, "wh-1")
    paid = shopify(api, "orders/paid", {**order, "financial_status": "paid"}, "wh-2")
    assert replay.status_code == paid.status_code == 200
    assert replay.json_body == {"stored": [], "duplicates": 2}
    assert paid.json_body["stored"] == []

    contact = find_contact(api, admin_headers, email="jon@example.com")
    assert contact is not None
    assert names(contact).count("order_completed") == 1
    assert contact["orders_count"] == 1 and contact["total_spent"] == 403


def test_a_bad_or_missing_signature_is_refused_and_stores_nothing(
    api: Client, admin_headers: dict[str, str]
) -> None:
    order = fixture("shopify/orders_create.json")
    forged = shopify(api, "orders/create", order, "wh-1", secret="someone-elses-secret")
    raw = body_of(order)
    unsigned = post_signed(api, SHOPIFY, raw, {"X-Shopify-Topic": "orders/create"})
    tampered = body_of({**order, "total_price": "0.01"})
    swapped = post_signed(
        api,
        SHOPIFY,
        tampered,
        {
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": b64_hmac(SECRETS["SHOPIFY_WEBHOOK_SECRET"], raw),
        },
    )
    assert [r.status_code for r in (forged, unsigned, swapped)] == [403, 403, 403]
    assert find_contact(api, admin_headers, email="jon@example.com") is None


def test_without_a_configured_secret_every_shop_webhook_fails_closed(
    api: Client, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    unset(monkeypatch, "SHOPIFY_WEBHOOK_SECRET", "WOOCOMMERCE_WEBHOOK_SECRET", "SHOP_TILDA_SECRET")
    order = fixture("shopify/orders_create.json")
    assert shopify(api, "orders/create", order, "wh-1").status_code == 503
    woo_order = fixture("woocommerce/order.json")
    assert woo(api, "order.created", woo_order, "d-1").status_code == 503
    generic = body_of(fixture("shop/order_completed.json"))
    signed = {"X-Autofunnel-Signature": hex_hmac("anything", generic)}
    assert post_signed(api, SHOP, generic, signed).status_code == 503
    for email in ("jon@example.com", "john.doe@example.com", "anna@example.com"):
        assert find_contact(api, admin_headers, email=email) is None


def test_an_unknown_topic_is_answered_200_and_logged(
    api: Client, admin_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="chalicelib.api.shop_webhooks"):
        response = shopify(api, "products/update", {"id": 632910392, "title": "IPod"}, "wh-9")
    assert response.status_code == 200
    assert response.json_body == {"ignored": "products/update"}
    assert "topic 'products/update' is not mapped" in caplog.text


def test_a_checkout_carrying_the_snippets_anonymous_id_joins_the_site_visitor(
    api: Client, admin_headers: dict[str, str]
) -> None:
    visit = {
        "type": "page",
        "anonymousId": "visitor-1",
        "messageId": "m-page-1",
        "properties": {"url": "https://jsmith.myshopify.com/products/ipod"},
        "writeKey": WRITE_KEY,
    }
    page = api.http.post(
        "/v1/page", headers={"Content-Type": "application/json"}, body=body_of(visit)
    )
    assert page.status_code == 200, page.body
    checkout = fixture("shopify/checkouts_create.json")
    checkout["note_attributes"] = [
        {"name": "_af_anon", "value": "visitor-1"},
        {"name": "tier", "value": "tripwire"},
    ]
    assert shopify(api, "checkouts/create", checkout, "wh-3").status_code == 200

    by_email = find_contact(api, admin_headers, email="example@email.com")
    by_visit = find_contact(api, admin_headers, anonymous_id="visitor-1")
    assert by_email is not None and by_visit is not None
    assert by_email["contact_id"] == by_visit["contact_id"]
    assert {"page_viewed", "checkout_started", "identify"} == set(names(by_email))
    started = last(by_email, "checkout_started")["properties"]
    assert started["cart_url"].endswith("/checkouts/123123123/recover?key=example-secret-token")
    assert (started["items_count"], started["total"], started["tier"]) == (1, 398.0, "tripwire")
    assert "_af_anon" not in started


def test_a_refund_finds_the_orders_buyer_and_one_for_an_unknown_order_is_ignored(
    api: Client, admin_headers: dict[str, str]
) -> None:
    refund = fixture("shopify/refunds_create.json")
    early = shopify(api, "refunds/create", refund, "wh-r0")
    assert early.status_code == 200 and early.json_body["stored"] == ["order_refunded"]

    shopify(api, "orders/create", fixture("shopify/orders_create.json"), "wh-1")
    response = shopify(api, "refunds/create", {**refund, "id": 890088186047892320}, "wh-r1")
    assert response.json_body["stored"] == ["order_refunded"]
    contact = find_contact(api, admin_headers, email="jon@example.com")
    assert contact is not None
    refunded = last(contact, "order_refunded")["properties"]
    assert (refunded["amount"], refunded["currency"]) == (89.99, "USD")
    assert refunded["items"][0]["name"] == "Aviator sunglasses"
    assert names(contact).count("order_refunded") == 1  # the early one reached nobody


def test_customers_create_fills_the_profile_and_an_explicit_email_consent(
    api: Client, admin_headers: dict[str, str]
) -> None:
    assert (
        shopify(
            api, "customers/create", fixture("shopify/customers_create.json"), "wh-c"
        ).status_code
        == 200
    )
    contact = find_contact(api, admin_headers, email="bob@biller.com")
    assert contact is not None
    assert contact["attributes"]["first_name"] == "Bob"
    assert contact["attributes"]["last_name"] == "Biller"
    assert contact["consents"]["email"]["granted"] is True


# --- WooCommerce -----------------------------------------------------------------------------


def test_a_woocommerce_order_moving_through_statuses_counts_once(
    api: Client, admin_headers: dict[str, str]
) -> None:
    order = fixture("woocommerce/order.json")
    pending = {**copy.deepcopy(order), "status": "pending", "date_paid_gmt": None}
    pending["meta_data"].append({"id": 1, "key": "_af_anon", "value": "visitor-2"})
    assert woo(api, "order.created", pending, "d-1").json_body["stored"] == [
        "identify",
        "checkout_started",
    ]
    paid = woo(api, "order.updated", order, "d-2")
    again = woo(api, "order.updated", {**order, "status": "completed"}, "d-3")
    replay = woo(api, "order.updated", order, "d-2")
    assert paid.json_body["stored"] == ["identify", "order_completed"]
    assert again.json_body["stored"] == replay.json_body["stored"] == []

    contact = find_contact(api, admin_headers, email="john.doe@example.com")
    assert contact is not None
    assert find_contact(api, admin_headers, anonymous_id="visitor-2") == contact
    assert names(contact).count("order_completed") == 1
    assert contact["orders_count"] == 1 and contact["total_spent"] == pytest.approx(29.35)
    completed = last(contact, "order_completed")
    assert completed["timestamp"].startswith("2017-03-22T19:28:08")
    assert completed["properties"]["items"][1] == {
        "product_id": "22",
        "variant_id": "23",
        "sku": "Bar3",
        "name": "Ship Your Idea &ndash; Color: Black, Size: M Test",
        "price": 12.0,
        "quantity": 1,
    }
    # "(555) 555-5555" with the billing country US is a phone identity in E.164.
    assert find_contact(api, admin_headers, phone="+15555555555") == contact


def test_woocommerce_ping_signatures_and_unknown_topics(
    api: Client, admin_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    ping = api.http.post(
        WOO,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"webhook_id=12",
    )
    assert ping.status_code == 200 and ping.json_body == {"pong": True}
    forged = woo(api, "order.created", fixture("woocommerce/order.json"), "d-1", secret="nope")
    assert forged.status_code == 403
    assert find_contact(api, admin_headers, email="john.doe@example.com") is None
    with caplog.at_level(logging.INFO, logger="chalicelib.api.shop_webhooks"):
        product = woo(api, "product.updated", {"id": 93, "name": "Woo Single #1"}, "d-9")
    assert product.status_code == 200 and product.json_body == {"ignored": "product.updated"}
    assert "'product.updated' is not mapped" in caplog.text

    customer = woo(api, "customer.created", fixture("woocommerce/customer.json"), "d-4")
    assert customer.json_body["stored"] == ["identify"]
    contact = find_contact(api, admin_headers, email="john.doe@example.com")
    assert contact is not None and contact["attributes"]["first_name"] == "John"


# --- any other shop --------------------------------------------------------------------------


def test_the_generic_format_stores_a_signed_order_once(
    api: Client, admin_headers: dict[str, str]
) -> None:
    raw = body_of(fixture("shop/order_completed.json"))
    signature = {"X-Autofunnel-Signature": hex_hmac(SECRETS["SHOP_TILDA_SECRET"], raw)}
    first = post_signed(api, SHOP, raw, signature)
    replay = post_signed(api, SHOP, raw, signature)
    assert first.status_code == replay.status_code == 200
    assert first.json_body["stored"] == ["order_completed"]
    assert replay.json_body == {"stored": [], "duplicates": 1}

    contact = find_contact(api, admin_headers, email="anna@example.com")
    assert contact is not None
    assert find_contact(api, admin_headers, phone="+49301234567") == contact
    order = last(contact, "order_completed")
    assert order["source"] == "shop:tilda"
    assert order["properties"]["tier"] == "tripwire"
    assert order["properties"]["coupon"] == "SPRING"
    assert contact["orders_count"] == 1 and contact["total_spent"] == 49


def test_the_generic_format_refuses_bad_signatures_and_explains_bad_bodies(
    api: Client, admin_headers: dict[str, str]
) -> None:
    raw = body_of(fixture("shop/order_completed.json"))
    forged = post_signed(api, SHOP, raw, {"X-Autofunnel-Signature": hex_hmac("guess", raw)})
    other_source = post_signed(
        api,
        "/webhooks/shop/bitrix",
        raw,
        {"X-Autofunnel-Signature": hex_hmac(SECRETS["SHOP_TILDA_SECRET"], raw)},
    )
    assert (forged.status_code, other_source.status_code) == (403, 503)
    assert find_contact(api, admin_headers, email="anna@example.com") is None

    nobody = body_of({"id": "e1", "type": "order_completed", "customer": {}})
    bad = post_signed(
        api,
        SHOP,
        nobody,
        {"X-Autofunnel-Signature": hex_hmac(SECRETS["SHOP_TILDA_SECRET"], nobody)},
    )
    assert bad.status_code == 400
    assert "must identify someone" in bad.json_body["error"]
