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
    wiring.storage.cache_clear()


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
