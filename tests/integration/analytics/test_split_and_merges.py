"""Split-test arms with lift and significance, replayed deliveries, and merged contacts."""

from __future__ import annotations

import math
from datetime import timedelta

from chalicelib.core.engine import split_bucket
from chalicelib.storage.models import Identity
from tests.integration.analytics.population import World

OFFER_TEST = """
name: offer_test
trigger: {event: lead_signed_up}
goal: {event: order_completed, value: total, within: 14d}
steps:
  - id: ab
    kind: split
    variants:
      - {name: offer, percent: 50}
    holdout: 50
  - id: offer_email
    kind: send
    channel: email
    content:
      email: {subject: "A gift for you", text: "Here is your offer"}
"""


def test_split_arms_lift_and_z_test(world: World, admin_headers: dict[str, str]) -> None:
    world.stack.publish("offer_test.yaml", OFFER_TEST)
    # Contacts first; each one's arm follows from its (random) id, so exactly 50 leads per arm
    # enter: 160 contacts split about 80/80, and fewer than 50 on a side is 4.7 sigma away.
    users = [f"lead-{n:03d}" for n in range(160)]
    world.batch(
        [{"type": "identify", "userId": u, "traits": {"email": f"{u}@example.com"}} for u in users]
    )
    arms: dict[str, list[str]] = {"offer": [], "holdout": []}
    for user in users:
        contact_id = str(Identity.get(f"user:{user}").contact_id)
        arm = "offer" if split_bucket(contact_id, "offer_test", "ab") < 50 else "holdout"
        if len(arms[arm]) < 50:
            arms[arm].append(user)
    assert [len(a) for a in arms.values()] == [50, 50]
    leads = [world.track(u, "lead_signed_up") for u in arms["offer"] + arms["holdout"]]
    world.batch(leads)
    world.advance(timedelta(days=1))
    buyers = arms["offer"][:15] + arms["holdout"][:5]
    orders = world.batch([world.track(u, "order_completed", total=25) for u in buyers])
    for body in orders:  # a client retrying the same batch: nothing is counted twice
        assert world.post(body)["duplicates"] == len(buyers)
    world.advance(timedelta(days=14))

    body = world.admin("/admin/stats/funnels/offer_test", admin_headers)
    assert body["totals"]["entered"] == 100
    assert body["totals"]["converted"] == 20 and body["totals"]["revenue"] == 500
    [test] = body["splits"]
    assert test["control"] == "holdout"
    offer, holdout = test["arms"]
    assert (offer["arm"], offer["entered"], offer["converted"]) == ("offer", 50, 15)
    assert (holdout["arm"], holdout["entered"], holdout["converted"]) == ("holdout", 50, 5)
    assert offer["revenue"] == 375 and holdout["revenue"] == 125
    # By hand: p1 = .3, p2 = .1, pooled .2, se = sqrt(.2 * .8 * (1/50 + 1/50)) = .08
    assert offer["lift"] == 2.0
    assert math.isclose(offer["z"], 0.2 / math.sqrt(0.0064))
    assert round(offer["z"], 4) == 2.5
    assert math.isclose(offer["p_value"], math.erfc(2.5 / math.sqrt(2)))  # 0.0124 < 0.05
    # Significant at 5 %, with 5+ conversions and non-conversions in each arm.
    assert offer["significant"] is True and offer["enough_data"] is True
    steps = {row["id"]: row for row in body["steps"]}
    assert steps["offer_email"]["sent"] == 50
    assert steps["_end"]["converted"] == 20  # both arms wait out the goal window after the split
    days = world.admin("/admin/stats/days?from=2026-11-23&to=2026-11-24", admin_headers)["days"]
    assert [d["orders"] for d in days] == [0, 20]


def test_a_merge_counts_one_person_once(world: World, admin_headers: dict[str, str]) -> None:
    home = "https://shop.example.com/?utm_source={}&utm_campaign={}"
    world.batch(
        [
            {
                "type": "page",
                "anonymousId": "anon-x",
                "properties": {"url": home.format("google", "spring")},
            },
            {"type": "page", "userId": "ann", "properties": {"url": home.format("ads", "fall")}},
            {
                "type": "track",
                "anonymousId": "anon-x",
                "event": "Order Completed",
                "properties": {"total": 30},
            },
            {
                "type": "track",
                "userId": "ann",
                "event": "order_completed",
                "properties": {"revenue": "20.25"},
            },
        ]
    )
    before = world.admin("/admin/stats/cohorts", admin_headers)["cohorts"]
    assert [(c["source"], c["contacts"], c["buyers"], c["revenue"]) for c in before] == [
        ("ads", 1, 1, 20.25),
        ("google", 1, 1, 30),
    ]
    world.advance(timedelta(hours=1))
    world.batch([{"type": "identify", "anonymousId": "anon-x", "userId": "ann"}])

    cohorts = world.admin("/admin/stats/cohorts", admin_headers)["cohorts"]
    assert sum(c["contacts"] for c in cohorts) == 1
    assert sum(c["buyers"] for c in cohorts) == 1
    assert sum(c["orders"] for c in cohorts) == 2
    assert sum(c["revenue"] for c in cohorts) == 50.25
    survivor = world.contact_id("ann")
    journey = world.admin(f"/admin/stats/contacts/{survivor}", admin_headers)
    assert (journey["orders"], journey["ltv"]) == (2, 50.25)
    [kept] = [c for c in cohorts if c["contacts"] == 1]
    assert kept["source"] == journey["cohort"]  # the figures follow the surviving contact
    assert (kept["buyers"], kept["revenue"]) == (1, 50.25)
