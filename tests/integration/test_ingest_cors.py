"""CORS: an Origin is reflected only when the write key allows it; preflight is answered."""

from __future__ import annotations

import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.config import Settings
from tests.integration.ingest_helpers import basic, post

SHOP = "https://shop.example"


@pytest.fixture
def shop_key(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AUTOFUNNEL_WRITE_KEYS", '{"shop-key": ["https://shop.example"]}')
    wiring.reset()
    wiring.storage()
    return "shop-key"


def test_preflight_allows_configured_origins_only(api: Client, shop_key: str) -> None:
    allowed = api.http.options("/v1/batch", headers={"Origin": SHOP})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    # The dev key (AUTOFUNNEL_WRITE_KEY) allows any origin, so check with only the shop key.


def test_the_origin_is_reflected_per_write_key(api: Client, shop_key: str) -> None:
    call = {"anonymousId": "a", "event": "x"}
    ours = post(api, "/v1/track", call, {**basic(shop_key), "Origin": SHOP})
    theirs = post(api, "/v1/track", call, {**basic(shop_key), "Origin": "https://evil.example"})
    assert ours.status_code == theirs.status_code == 200
    assert ours.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Origin" not in theirs.headers
    assert ours.headers["Vary"] == "Origin"
    # Errors carry CORS headers too, so the page's script can read them.
    bad = post(api, "/v1/track", {"anonymousId": "a"}, {**basic(shop_key), "Origin": SHOP})
    assert bad.status_code == 400 and bad.headers["Access-Control-Allow-Origin"] == SHOP


def test_preflight_without_any_key_for_the_origin(
    api: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOFUNNEL_WRITE_KEY")
    monkeypatch.setenv("AUTOFUNNEL_WRITE_KEYS", '{"k": ["https://shop.example"]}')
    wiring.reset()
    denied = api.http.options("/v1/track", headers={"Origin": "https://evil.example"})
    assert denied.status_code == 204
    assert "Access-Control-Allow-Origin" not in denied.headers
