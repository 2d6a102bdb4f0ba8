"""RFM scoring of hand-computed customers built through the ingest API; segment changes reach
the win-back funnel; LTV per segment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.integration.analytics.population import World

# name: (days since the last order, order values oldest first)
CUSTOMERS: dict[str, tuple[int, list[float]]] = {
    "ann": (1, [125] * 8),
    "bob": (2, [50]),
    "cid": (5, [80] * 5),
    "dan": (10, [50] * 3),
    "eve": (20, [45] * 2),
    "fay": (40, [30]),
    "gus": (80, [100] * 6),
    "hal": (120, [100] * 6 + [200]),
    "ivy": (200, [20]),
    "joe": (300, [50] * 4),
}
# By hand (10 buyers, distinct values score 1,1,2,2,3,3,4,4,5,5 from worst to best; F ties):
#        R  F  M  FM  segment
# ann    5  5  5  5   champions        fay  3  1  1  1   potential
# bob    5  1  2  2   potential        gus  2  4  4  4   at_risk
# cid    4  4  4  4   champions        hal  2  5  5  5   cant_lose
# dan    4  3  3  3   loyal            ivy  1  1  1  1   lost
# eve    3  2  2  2   potential        joe  1  3  3  3   at_risk
EXPECTED = {
    "ann": (5, 5, 5, "champions"),
    "bob": (5, 1, 2, "potential"),
    "cid": (4, 4, 4, "champions"),
    "dan": (4, 3, 3, "loyal"),
    "eve": (3, 2, 2, "potential"),
    "fay": (3, 1, 1, "potential"),
    "gus": (2, 4, 4, "at_risk"),
    "hal": (2, 5, 5, "cant_lose"),
    "ivy": (1, 1, 1, "lost"),
    "joe": (1, 3, 3, "at_risk"),
}


def orders(world: World) -> list[dict[str, Any]]:
    calls = []
    for name, (days, values) in CUSTOMERS.items():
        for k, value in enumerate(reversed(values)):  # the last order `days` ago, earlier ones
            at = world.now - timedelta(days=days + 3 * k)  # every 3 days before it
            calls.append(
                {
                    "type": "track",
                    "userId": name,
                    "event": "order_completed",
                    "timestamp": at.isoformat(),
                    "properties": {"total": value},
                }
            )
    return calls


def test_rfm_scores_segments_and_ltv(world: World, admin_headers: dict[str, str]) -> None:
    world.stack.publish("rfm_winback.yaml")
    world.batch(
        [
            {"type": "identify", "userId": n, "traits": {"email": f"{n}@example.com"}}
            for n in CUSTOMERS
        ]
    )
    world.batch(orders(world))
    run = world.run_job("/admin/jobs/rfm", admin_headers)["job"]
    assert run["counts"] == {"measured": 10, "buyers": 10, "changed": 10}
    assert [(p["name"], p["done"], p["total"]) for p in run["passes"]] == [
        ("distribution", 10, 10),
        ("score", 10, 10),
    ]

    for name, (r, f, m, segment) in EXPECTED.items():
        journey = world.admin(f"/admin/stats/contacts/{world.contact_id(name)}", admin_headers)
        rfm = journey["rfm"]
        assert (rfm["r"], rfm["f"], rfm["m"], rfm["segment"]) == (r, f, m, segment), name
        assert journey["ltv"] == sum(CUSTOMERS[name][1]), name
        contact = world.admin(f"/admin/contacts/{world.contact_id(name)}", admin_headers)
        assert contact["attributes"]["rfm_segment"] == segment  # what funnels branch on
        assert contact["attributes"]["lifetime_value"] == sum(CUSTOMERS[name][1])

    grid = world.admin("/admin/stats/rfm", admin_headers)
    assert grid["buyers"] == 10
    segments = {s["segment"]: s for s in grid["segments"]}
    assert {k: v["count"] for k, v in segments.items()} == {
        "champions": 2,
        "loyal": 1,
        "potential": 3,
        "new": 0,
        "at_risk": 2,
        "cant_lose": 1,
        "hibernating": 0,
        "lost": 1,
    }
    assert segments["champions"]["avg_ltv"] == 700  # (1000 + 400) / 2
    assert segments["potential"]["avg_ltv"] == 56.67  # (50 + 90 + 30) / 3
    assert segments["at_risk"]["avg_ltv"] == 400 and segments["cant_lose"]["avg_ltv"] == 800
    cells = {(c["r"], c["fm"]): c["count"] for row in grid["grid"] for c in row if c["count"]}
    assert cells == {(5, 5): 1, (5, 2): 1, (4, 4): 1, (4, 3): 1, (3, 2): 1, (3, 1): 1,
                     (2, 4): 1, (2, 5): 1, (1, 1): 1, (1, 3): 1}  # fmt: skip

    # at_risk and lost buyers entered the win-back funnel through rfm_segment_changed.
    winback = world.admin("/admin/stats/funnels/rfm_winback", admin_headers)
    assert winback["totals"]["entered"] == 3  # gus, joe, ivy
    [split] = winback["splits"]
    assert sum(arm["entered"] for arm in split["arms"]) == 3

    # Nothing changes, nothing is emitted: a re-run is idempotent.
    again = world.run_job("/admin/jobs/rfm", admin_headers)["job"]
    assert again["counts"] == {"measured": 10, "buyers": 10, "changed": 0}

    # 100 days later ivy buys again: most recent now, and no longer lost.
    world.advance(timedelta(days=100))
    world.batch([world.track("ivy", "order_completed", total=20)])
    world.run_job("/admin/jobs/rfm", admin_headers)
    ivy = world.admin(f"/admin/stats/contacts/{world.contact_id('ivy')}", admin_headers)
    assert (ivy["rfm"]["r"], ivy["rfm"]["f"], ivy["rfm"]["m"]) == (5, 2, 1)
    assert ivy["rfm"]["segment"] == "potential" and ivy["ltv"] == 40
    timeline = world.admin(f"/admin/contacts/{world.contact_id('ivy')}", admin_headers)["timeline"]
    changes = [e["properties"] for e in timeline if e["name"] == "rfm_segment_changed"]
    assert changes == [{"segment": "potential", "previous": "lost"}, {"segment": "lost"}]
