"""GET /t.js (the snippet, within its size budget and built from its source) and GET /demo."""

from __future__ import annotations

import gzip

import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.static import build


def test_the_snippet_is_served_small_and_cacheable(api: Client) -> None:
    response = api.http.get("/t.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert "max-age" in response.headers["Cache-Control"]
    size = len(gzip.compress(response.body, compresslevel=9))
    assert size <= build.BUDGET, f"/t.js is {size} bytes min+gzip; the budget is {build.BUDGET}"


def test_the_served_snippet_is_the_minified_source() -> None:
    pytest.importorskip("rjsmin")
    source = build.SOURCE.read_text(encoding="utf-8")
    assert build.TARGET.read_text(encoding="utf-8") == build.minify(source), (
        "chalicelib/static/t.min.js is stale: run `python -m chalicelib.static.build`"
    )


def test_the_demo_page_embeds_the_write_key_and_the_snippet(api: Client) -> None:
    page = api.http.get("/demo")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert '"test-write-key"' in html and '"https://af.example.test"' in html
    assert 'data-af-event="cart_updated"' in html and 'id="popup-email"' in html
    unknown = api.http.get("/demo?key=%3C/script%3E")
    assert unknown.status_code == 400 and unknown.json_body["field"] == "key"


def test_no_demo_on_prod(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOFUNNEL_STAGE", "prod")
    wiring.reset()
    assert api.http.get("/demo").status_code == 404
