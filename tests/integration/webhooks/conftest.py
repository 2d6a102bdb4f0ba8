"""Webhook tests: provider secrets in the environment, signed requests, fixtures on disk."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from chalicelib import config, wiring

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SECRETS = {
    "SHOPIFY_WEBHOOK_SECRET": "shpss_test_client_secret",
    "WOOCOMMERCE_WEBHOOK_SECRET": "woo-webhook-secret",
    "SHOP_TILDA_SECRET": "tilda-shared-secret",
    "TELEGRAM_BOT_USERNAME": "shop_bot",
    "META_APP_SECRET": "meta-app-secret",
    "META_VERIFY_TOKEN": "meta-verify-token",
}


@pytest.fixture(autouse=True)
def provider_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Autouse: set before `settings` reads the environment."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def unset(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Remove settings mid-test (the composition root reads them again)."""
    for name in names:
        monkeypatch.delenv(name, raising=False)
    config.current.cache_clear()
    wiring.reset()


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


def body_of(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def b64_hmac(secret: str, raw: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def hex_hmac(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def post_signed(
    api: Client,
    path: str,
    raw: bytes,
    headers: dict[str, str],
    content_type: str = "application/json",
) -> Any:
    return api.http.post(path, headers={"Content-Type": content_type, **headers}, body=raw)


def find_contact(api: Client, admin_headers: dict[str, str], **query: str) -> dict[str, Any] | None:
    response = api.http.get(f"/admin/contacts?{urlencode(query)}", headers=admin_headers)
    assert response.status_code == 200, response.body
    found = response.json_body["contacts"]
    return found[0] if found else None


def names(contact: dict[str, Any]) -> list[str]:
    """The contact's event names, oldest first."""
    return [event["name"] for event in reversed(contact["timeline"])]


SIGNING_SECRET = "test-signing-secret"  # tests/conftest.py's AUTOFUNNEL_SIGNING_SECRET


def telegram_secret(bot: str = "shop_bot") -> str:
    from chalicelib.webhooks.credentials import derived_telegram_secret

    return derived_telegram_secret(SIGNING_SECRET, bot)


def post_telegram(
    api: Client, update: Any, bot: str = "shop_bot", secret: str | None = None
) -> Any:
    headers = {
        "X-Telegram-Bot-Api-Secret-Token": secret if secret is not None else telegram_secret(bot)
    }
    return post_signed(api, f"/webhooks/telegram/{bot}", body_of(update), headers)


def post_meta(api: Client, payload: Any, secret: str | None = None) -> Any:
    raw = body_of(payload)
    signature = hex_hmac(secret or SECRETS["META_APP_SECRET"], raw)
    return post_signed(api, "/webhooks/meta", raw, {"X-Hub-Signature-256": signature})


def visitor_link(api: Client, anonymous_id: str) -> dict[str, Any]:
    """What the snippet's telegramLink() asks for: a signed deep link for this visitor."""
    from tests.conftest import WRITE_KEY

    body = body_of({"writeKey": WRITE_KEY, "anonymousId": anonymous_id})
    response = api.http.post("/v1/deeplink", headers={"Content-Type": "text/plain"}, body=body)
    assert response.status_code == 200, response.body
    return response.json_body


def browse(api: Client, anonymous_id: str, *events: str) -> None:
    """A visitor's snippet batch: a page view, then the named track events."""
    from tests.conftest import WRITE_KEY

    calls: list[dict[str, Any]] = [
        {
            "type": "page",
            "anonymousId": anonymous_id,
            "messageId": f"{anonymous_id}-page",
            "properties": {"url": "https://shop.example.com/guide"},
        }
    ]
    calls += [
        {
            "type": "track",
            "event": name,
            "anonymousId": anonymous_id,
            "messageId": f"{anonymous_id}-{name}",
            "properties": {},
        }
        for name in events
    ]
    response = api.http.post(
        "/v1/batch",
        headers={"Content-Type": "text/plain"},
        body=body_of({"batch": calls, "writeKey": WRITE_KEY}),
    )
    assert response.status_code == 200, response.body
