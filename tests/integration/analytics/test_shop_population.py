"""200 visitors, 100 carts, 50 orders with known values, through the real ingest API, the
abandoned-cart funnel and provider statuses: every figure asserted exactly."""

from __future__ import annotations

from collections import Counter as Count
from typing import Any

from chalicelib.analytics import step_figures
from tests.integration.analytics.population import (
    CARTS,
    GROUP_A,
    GROUP_B,
    GROUP_C,
    GROUP_D,
    VISITORS,
    World,
    campaign_of,
    shop_population,
    source_of,
)

A, B, C, D = 40, 59.9, 80.5, 100  # order values of each group


def steps_by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in body["steps"]}


def test_shop_population_figures(world: World, admin_headers: dict[str, str]) -> None:
    shop_population(world)
    get = lambda path: world.admin(path, admin_headers)  # noqa: E731

    # --- the funnel list and totals ---------------------------------------------------------
    [listed] = get("/admin/stats/funnels")["funnels"]
    funnel = get("/admin/stats/funnels/abandoned_cart")
    totals = funnel["totals"]
    assert listed["name"] == "abandoned_cart" and listed["entered"] == CARTS
    assert totals["entered"] == 100
    assert totals["converted"] == 45  # A, B and C bought within the 7-day goal window
    assert totals["completed"] == 55  # everyone else ran out of steps and the window closed
    assert totals["exited"] == 0 and totals["active"] == 0
    assert totals["revenue"] == 10 * A + 20 * B + 15 * C == 2805.5
    assert totals["conversion_rate"] == 45 / 100
    assert totals["revenue_per_contact"] == 2805.5 / 100 == 28.055
    # Last touch within 5 days: B opened/clicked reminder 1; 5 of C clicked reminder 2.
    assert totals["attributed_orders"] == 25
    assert totals["attributed_revenue"] == 20 * B + 5 * C == 1600.5
    assert listed["revenue"] == totals["revenue"] and listed["conversion_rate"] == 0.45

    # --- per step: bars narrowing 100 -> 90 -> 70 -> 55 ------------------------------------
    steps = steps_by_id(funnel)
    assert [row["id"] for row in funnel["steps"]] == [
        "wait_30m",
        "reminder_1",
        "wait_1d",
        "reminder_2",
        "wait_2d",
        "reminder_3",
        "_end",
    ]
    assert {s: steps[s]["reached"] for s in steps} == {
        "wait_30m": 100,
        "reminder_1": 90,
        "wait_1d": 90,
        "reminder_2": 70,
        "wait_2d": 70,
        "reminder_3": 55,
        "_end": 0,  # lingering after the last step is a place, not a step reached
    }
    assert {s: steps[s]["sent"] for s in steps if steps[s]["sent"]} == {
        "reminder_1": 90,
        "reminder_2": 70,
        "reminder_3": 55,
    }
    assert steps["reminder_1"]["sent_by_channel"] == {"email": 90}
    r1 = steps["reminder_1"]
    assert (r1["delivered"], r1["opened"], r1["clicked"]) == (90, 20, 8)  # clicks imply opens
    assert r1["open_rate"] == 20 / 90 and r1["click_rate"] == 8 / 90
    r2 = steps["reminder_2"]
    assert (r2["delivered"], r2["opened"], r2["clicked"]) == (5, 5, 5)
    assert r2["attributed_orders"] == 5 and r2["attributed_revenue"] == 402.5
    assert r1["attributed_orders"] == 20 and r1["attributed_revenue"] == 1198
    # Where each enrollment was when it converted (waiting after a message) or completed.
    assert {s: steps[s]["converted"] for s in steps if steps[s]["converted"]} == {
        "wait_30m": 10,
        "wait_1d": 20,
        "wait_2d": 15,
    }
    assert steps["wait_1d"]["revenue"] == 1198
    assert steps["_end"]["completed"] == 55
    assert all(row["waiting"] == 0 for row in funnel["steps"])
    assert steps["reminder_1"]["rate_from_entry"] == 0.9
    assert steps["reminder_2"]["rate_from_previous"] == 70 / 90
    assert steps["reminder_2"]["previous"] == "wait_1d"
    # Median time since the previous step: the waits, exactly.
    assert steps["reminder_1"]["median_seconds"] == 1800
    assert steps["reminder_2"]["median_seconds"] == 86400
    assert steps["reminder_3"]["median_seconds"] == 2 * 86400
    assert steps["wait_1d"]["median_seconds"] == 0
    assert "class s_reminder_1 keep" in funnel["mermaid"]

    # --- templates --------------------------------------------------------------------------
    templates = {t["template"]: t for t in get("/admin/stats/templates")["templates"]}
    assert sorted(templates) == [
        "abandoned_cart:reminder_1",
        "abandoned_cart:reminder_2",
        "abandoned_cart:reminder_3",
    ]
    t1 = templates["abandoned_cart:reminder_1"]["channels"]["email"]
    assert (t1["sent"], t1["delivered"], t1["opened"], t1["clicked"]) == (90, 90, 20, 8)
    assert (t1["orders"], t1["revenue"]) == (20, 1198)
    assert t1["delivery_rate"] == 1.0 and t1["click_rate"] == 8 / 90

    # --- per day ----------------------------------------------------------------------------
    days = {d["date"]: d for d in get("/admin/stats/days?from=2026-11-23&to=2026-12-03")["days"]}
    assert len(days) == 11
    first = days["2026-11-23"]
    assert first["contacts"] == VISITORS
    assert first["events"] == VISITORS + CARTS + CARTS + 10 + 20  # pages, identifies, carts, orders
    assert first["orders"] == 30 and first["revenue"] == 10 * A + 20 * B
    assert first["conversions"] == 30 and first["conversion_revenue"] == 1598
    assert first["enrollments"] == 100
    assert first["messages"] == {"email": 90}
    assert first["attributed_revenue"] == 1198
    second = days["2026-11-24"]
    assert (second["orders"], second["revenue"], second["messages"]) == (15, 1207.5, {"email": 70})
    assert days["2026-11-26"]["messages"] == {"email": 55}
    assert (days["2026-12-03"]["orders"], days["2026-12-03"]["revenue"]) == (5, 500)
    assert days["2026-12-03"]["conversions"] == 0  # after the goal window: not a conversion
    assert sum(d["orders"] for d in days.values()) == 50
    assert sum(d["first_orders"] for d in days.values()) == 50

    # --- cohorts by first-touch source and campaign ----------------------------------------
    expected: dict[tuple[str, str], Count[str]] = {}
    values = {**dict.fromkeys(GROUP_A, A), **dict.fromkeys(GROUP_B, B)}
    values |= {**dict.fromkeys(GROUP_C, C), **dict.fromkeys(GROUP_D, D)}
    for n in range(VISITORS):
        row = expected.setdefault((source_of(n), campaign_of(n)), Count())
        row["contacts"] += 1
        if n in values:
            row["buyers"] += 1
            row["revenue"] += values[n]
    cohorts = get("/admin/stats/cohorts")
    found = {(c["source"], c["campaign"]): c for c in cohorts["cohorts"]}
    assert set(found) == {("google", "spring"), ("newsletter", "may"), ("direct", "")}
    for key, numbers in expected.items():
        assert found[key]["contacts"] == numbers["contacts"], key
        assert found[key]["buyers"] == numbers["buyers"], key
        assert round(found[key]["revenue"], 2) == round(numbers["revenue"], 2), key
    assert sum(c["contacts"] for c in cohorts["cohorts"]) == 200
    assert round(sum(c["revenue"] for c in cohorts["cohorts"]), 2) == 3305.5
    google = next(s for s in cohorts["sources"] if s["source"] == "google")
    assert google["contacts"] == 100


def test_a_reaction_counts_once_with_the_ones_it_implies() -> None:
    history = [{"status": "sent"}, {"status": "clicked"}, {"status": "opened"}]
    assert step_figures.new_reactions(history, "clicked") == ["clicked", "opened", "delivered"]
    assert step_figures.new_reactions(history, "opened") == []  # the click implied it
    assert step_figures.new_reactions([*history, {"status": "delivered"}], "delivered") == []
