"""Preview and test send over the admin API: a step rendered for a real contact or the sample,
and a test send through the real SendGrid SDK (to a local stand-in) that no figure counts,
even after SendGrid reports it opened."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.storage.models import Message
from tests.integration.channels.conftest import post_sendgrid
from tests.integration.ingest_helpers import post
from tests.provider_stub import ProviderStub, Reply, running

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def sendgrid(providers: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderStub]:
    with running() as server:
        server.default = lambda request: Reply(202, None, {"X-Message-Id": "sg-test-1"})
        for name, value in {
            "SENDGRID_API_KEY": "SG.key",
            "SENDGRID_FROM_EMAIL": "news@shop.example",
            "SENDGRID_API_HOST": server.url,
            "AUTOFUNNEL_SITE_URL": "https://shop.example",
        }.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        yield server


def publish(api: Client, admin_headers: dict[str, str]) -> None:
    source = (ROOT / "funnels" / "abandoned_cart.yaml").read_text(encoding="utf-8")
    response = api.http.put(
        "/admin/funnels/abandoned_cart",
        body=source,
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert response.status_code == 201, response.body


def admin_post(api: Client, path: str, body: dict, headers: dict[str, str]) -> tuple[int, dict]:
    response = api.http.post(
        path, headers={**headers, "Content-Type": "application/json"}, body=json.dumps(body)
    )
    return response.status_code, response.json_body


def test_preview_renders_for_a_real_contact_and_for_the_sample(
    api: Client, admin_headers: dict[str, str], sendgrid: ProviderStub
) -> None:
    publish(api, admin_headers)
    post(
        api,
        "/v1/identify",
        {"userId": "u1", "traits": {"email": "vera@example.com", "first_name": "Vera"}},
    )
    cart = {
        "items_count": 1,
        "total": 35,
        "currency": "EUR",
        "cart_url": "https://shop.example/cart/7",
        "items": [],
    }
    post(api, "/v1/track", {"userId": "u1", "event": "cart_updated", "properties": cart})

    status, body = admin_post(
        api,
        "/admin/preview",
        {"funnel": "abandoned_cart", "step": "reminder_1", "contact": "vera@example.com"},
        admin_headers,
    )
    assert status == 200, body
    email, sms = body["channels"]["email"], body["channels"]["sms"]
    assert email["subject"] == "Vera, your cart is waiting"
    assert "You left 1 item in your cart" in email["html"]  # her own cart, not the sample's
    assert email["text"].startswith("You left 1 items in your cart: https://shop.example/cart/7")
    assert (sms["encoding"], sms["segments"]) == ("GSM-7", 1)
    assert [s["id"] for s in body["steps"]] == ["reminder_1", "reminder_2", "reminder_3"]

    status, sample = admin_post(
        api, "/admin/preview", {"funnel": "abandoned_cart", "step": "reminder_1"}, admin_headers
    )
    assert status == 200 and sample["contact"] == "sample"
    assert sample["channels"]["email"]["subject"] == "Anna, your cart is waiting"

    status, error = admin_post(
        api, "/admin/preview", {"funnel": "abandoned_cart", "step": "wait_30m"}, admin_headers
    )
    assert (status, error["field"]) == (400, "step")
    assert "'wait_30m' is a wait step" in error["error"]
    status, error = admin_post(
        api, "/admin/preview", {"funnel": "nope", "step": "x"}, admin_headers
    )
    assert (status, error["field"]) == (404, "funnel")


def test_a_test_send_goes_through_sendgrid_and_no_figure_counts_it(
    api: Client,
    admin_headers: dict[str, str],
    sendgrid: ProviderStub,
    sendgrid_key: ec.EllipticCurvePrivateKey,
) -> None:
    publish(api, admin_headers)
    status, sent = admin_post(
        api,
        "/admin/test-sends",
        {"funnel": "abandoned_cart", "step": "reminder_1", "to": "Me@Example.com"},
        admin_headers,
    )
    assert status == 201, sent
    assert (sent["channel"], sent["to"], sent["test"]) == ("email", "me@example.com", True)
    (request,) = [r.json() for r in sendgrid.requests if r.path == "/v3/mail/send"]
    assert request["personalizations"][0]["to"] == [{"email": "me@example.com"}]
    assert request["subject"] == "[Test] Anna, your cart is waiting"
    assert request["custom_args"]["message_id"] == sent["message_id"]

    # SendGrid reports it delivered and opened: its record says so, no figure moves.
    events = [
        {
            "event": kind,
            "email": "me@example.com",
            "timestamp": 1700000000 + n,
            "sg_event_id": f"ev-{n}",
            "message_id": sent["message_id"],
        }
        for n, kind in enumerate(["delivered", "open"])
    ]
    assert post_sendgrid(api, sendgrid_key, events).status_code == 200
    message = Message.get(sent["message_id"])
    assert message.test and message.status == "opened"
    assert message.funnel is None and message.enrollment_key is None

    def figures(path: str) -> dict:
        response = api.http.get(path, headers=admin_headers)
        assert response.status_code == 200, response.body
        return response.json_body

    assert figures("/admin/stats/templates")["templates"] == []
    (funnel,) = figures("/admin/stats/funnels")["funnels"]
    assert funnel["entered"] == 0
    steps = figures("/admin/stats/funnels/abandoned_cart")["steps"]
    assert all(not step.get("sent") and not step.get("opened") for step in steps)
    days = figures("/admin/stats/days")["days"]
    assert all(day["messages"] == {} for day in days)

    status, error = admin_post(
        api,
        "/admin/test-sends",
        {"funnel": "abandoned_cart", "step": "reminder_1", "to": "not-an-address"},
        admin_headers,
    )
    assert (status, error["field"]) == (400, "to")
