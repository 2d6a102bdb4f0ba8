"""`make run`'s demo data: seeded once on the first start, skipped when asked, through the real
ingest path and runtime, leaving every dashboard page with something to show."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chalice.test import Client

from autofunnel import demo_seed
from autofunnel.devstack import PROJECT_DIR, publish_funnels
from chalicelib.config import Settings
from chalicelib.storage.models import Counter

END = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def test_demo_seed_populates_every_page(
    settings: Settings,
    api: Client,
    admin_headers: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    publish_funnels(PROJECT_DIR / "funnels")
    summary = demo_seed.seed(END)
    # Seeded: every first start of `make run` shows the same shop (the outbox's order of
    # messages, which follows random contact ids, must not change which ones are opened).
    assert summary == "101 visitors, 15 cart orders, 45 buyers scored by RFM"

    def get(path: str) -> dict:
        response = api.http.get(path, headers=admin_headers)
        assert response.status_code == 200, response.body
        return response.json_body

    funnels = {f["name"]: f for f in get("/admin/stats/funnels")["funnels"]}
    cart = funnels["abandoned_cart"]
    assert cart["entered"] > 10 and 0 < cart["converted"] < cart["entered"]
    assert funnels["welcome_chain"]["entered"] > 0
    assert funnels["rfm_winback"]["entered"] > 0  # at-risk and lost customers
    steps = {s["id"]: s for s in get("/admin/stats/funnels/abandoned_cart")["steps"]}
    assert steps["reminder_1"]["opened"] > 0 and steps["reminder_1"]["clicked"] > 0
    rfm = get("/admin/stats/rfm")
    assert rfm["buyers"] >= demo_seed.CUSTOMERS
    assert sum(s["count"] for s in rfm["segments"]) == rfm["buyers"]
    sources = {c["source"] for c in get("/admin/stats/cohorts")["cohorts"]}
    assert {"google", "newsletter", "instagram", "direct"} <= sources
    days = get("/admin/stats/days?from=2026-11-09&to=2026-11-23")["days"]
    assert sum(d["contacts"] for d in days) > 60 and sum(d["orders"] for d in days) > 5
    assert get("/admin/stats/templates")["templates"]
    [segment] = get("/admin/stats/segments")["segments"]
    assert segment["name"] == "shoe_browsers"


def test_demo_seed_runs_once_and_can_be_skipped(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded: list[datetime] = []
    monkeypatch.setattr(demo_seed, "seed", lambda end: seeded.append(end) or "a demo")
    monkeypatch.setenv("AUTOFUNNEL_NO_DEMO", "1")
    demo_seed.seed_on_first_start()
    assert seeded == [] and "skipped" in capsys.readouterr().out
    monkeypatch.delenv("AUTOFUNNEL_NO_DEMO")
    demo_seed.seed_on_first_start()
    demo_seed.seed_on_first_start()  # the second start finds the marker
    assert len(seeded) == 1
    assert Counter.get("demo", "seeded").value == 1
