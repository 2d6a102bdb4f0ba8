"""A saved segment ("viewed shoes twice in 7 days and no order") evaluated incrementally on
events, back-filled when saved, re-checked when its window closes, and triggering a funnel."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from autofunnel.demo_seed import SHOE_BROWSERS
from tests.integration.analytics.population import World

FOLLOW_UP = """
name: shoe_follow_up
trigger: {segment: shoe_browsers}
steps:
  - id: tips
    kind: send
    channel: email
    content:
      email: {subject: "Finding the right shoes", text: "Our size guide"}
"""


def put_segment(world: World, name: str, body: object, headers: dict[str, str]) -> Any:
    return world.api.http.put(
        f"/admin/segments/{name}",
        headers={**headers, "Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )


def viewed(world: World, user: str, category: str) -> dict[str, object]:
    return world.track(user, "product_viewed", category=category)


def test_saved_segment_membership(world: World, admin_headers: dict[str, str]) -> None:
    world.stack.publish("shoe_follow_up.yaml", FOLLOW_UP)
    users = ["v1", "v2", "v3", "v4", "v5"]
    world.batch(
        [{"type": "identify", "userId": u, "traits": {"email": f"{u}@ex.com"}} for u in users]
    )
    world.batch([viewed(world, "v5", "shoes"), viewed(world, "v5", "shoes")])

    saved = world.run_job("/admin/segments/shoe_browsers", admin_headers, SHOE_BROWSERS)
    assert (saved["name"], saved["created"]) == ("shoe_browsers", True)
    assert saved["job"]["kind"] == "segment_backfill"
    assert saved["job"]["counts"] == {"evaluated": 5, "entered": 1, "left": 0}  # v5
    [listed] = world.admin("/admin/segments", admin_headers)["segments"]
    assert listed["members"] == 1

    world.advance(timedelta(hours=1))
    world.batch(
        [
            viewed(world, "v1", "shoes"),
            viewed(world, "v1", "shoes"),
            viewed(world, "v2", "shoes"),
            viewed(world, "v3", "shoes"),
            viewed(world, "v4", "bags"),
            viewed(world, "v4", "bags"),
        ]
    )
    world.batch([viewed(world, "v3", "shoes")])  # a second request: incremental
    members = {
        u
        for u in users
        if "shoe_browsers"
        in world.admin(f"/admin/stats/contacts/{world.contact_id(u)}", admin_headers)["segments"]
    }
    assert members == {"v1", "v3", "v5"}
    contact = world.admin(f"/admin/contacts/{world.contact_id('v1')}", admin_headers)
    assert contact["attributes"]["segments"] == ["shoe_browsers"]  # what funnels read

    world.advance(timedelta(hours=1))
    world.batch([world.track("v3", "order_completed", total=89)])  # bought: leaves
    [listed] = world.admin("/admin/segments", admin_headers)["segments"]
    assert listed["members"] == 2

    world.advance(timedelta(days=8))  # the views are older than 7 days now
    rechecked = world.run_job("/admin/jobs/segments", admin_headers)["job"]
    assert rechecked["kind"] == "segment_rechecks"
    assert rechecked["counts"] == {"evaluated": 4, "entered": 0, "left": 2}  # v1, v2, v3, v5
    stats = world.admin("/admin/stats/segments?from=2026-11-23&to=2026-12-01", admin_headers)[
        "segments"
    ]
    [segment] = stats
    assert segment["members"] == 0
    days = {d["date"]: d for d in segment["days"]}
    assert days["2026-11-23"] == {"date": "2026-11-23", "members": 2, "entered": 3, "left": 1}
    assert days["2026-11-24"]["members"] == 2
    assert days["2026-12-01"] == {"date": "2026-12-01", "members": 0, "entered": 0, "left": 2}

    # Each entry emitted segment_entered: the follow-up funnel enrolled and emailed them.
    follow_up = world.admin("/admin/stats/funnels/shoe_follow_up", admin_headers)
    assert follow_up["totals"]["entered"] == 3
    assert {r["id"]: r["sent"] for r in follow_up["steps"]}["tips"] == 3
    timeline = world.admin(f"/admin/contacts/{world.contact_id('v1')}", admin_headers)["timeline"]
    assert [e["name"] for e in timeline][:1] == ["segment_left"]


def test_invalid_segments_are_refused(world: World, admin_headers: dict[str, str]) -> None:
    condition = {"condition": {"reaction": "opened", "messages": ["m1"]}}
    bad = put_segment(world, "broken", condition, admin_headers)
    assert bad.status_code == 422
    assert "reaction" in bad.json_body["error"]
