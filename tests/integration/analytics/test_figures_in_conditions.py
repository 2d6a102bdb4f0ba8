"""Contact figures kept by ingest (orders, spend, sessions, first touch) in funnel conditions,
templates and saved segments, through the HTTP API."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from chalicelib.storage import messages as message_store
from tests.integration.analytics.population import World

FUNNEL = """
name: by_figures
trigger: {event: newsletter_signup}
templates:
  vip:
    email:
      subject: >-
        {{ contact.orders_count }} orders, {{ contact.total_spent }} spent,
        via {{ contact.first_touch.source }}
      text: Thanks for coming back.
  regular:
    email: {subject: "Welcome", text: "Hello"}
  engaged:
    email: {subject: "You visit often", text: "Hello again"}
steps:
  - id: gate
    kind: branch
    cases:
      - when: {attributes: {orders_count: {gte: 2}, first_touch.source: google}}
        next: vip
      - when: {attributes: {sessions: {gte: 3}, total_spent: {lt: 100}}}
        next: engaged
    default: regular
  - {id: vip, kind: send, channel: email, template: vip, next: end}
  - {id: engaged, kind: send, channel: email, template: engaged, next: end}
  - {id: regular, kind: send, channel: email, template: regular}
"""


def visit(world: World, user: str, source: str | None, sessions: int) -> list[dict[str, Any]]:
    """`sessions` visits an hour apart; the first one arriving from `source` (utm_source). The
    worker orders a contact's calls by their timestamps (a batch's are stored concurrently)."""
    calls = []
    for n in range(sessions):
        query = f"?utm_source={source}" if source and n == 0 else ""
        calls.append(
            {
                "type": "page",
                "userId": user,
                "properties": {"url": f"https://shop.example.com/{query}"},
                "context": {"sessionStart": True},
                "timestamp": (world.now - timedelta(hours=sessions - n)).isoformat(),
            }
        )
    return calls


def population(world: World) -> None:
    users = {"ann": "google", "bob": "newsletter", "cat": "google", "dan": None}
    world.batch(
        [{"type": "identify", "userId": u, "traits": {"email": f"{u}@example.com"}} for u in users]
    )
    world.batch(
        visit(world, "ann", "google", 2)
        + visit(world, "bob", "newsletter", 1)
        + visit(world, "cat", "google", 4)
        + visit(world, "dan", None, 1)
    )
    world.batch(
        [
            world.track("ann", "order_completed", order_id="a1", total=120),
            world.track("ann", "order_completed", order_id="a2", total=180.5),
            world.track("bob", "order_completed", order_id="b1", total=50),
            world.track("bob", "order_completed", order_id="b2", total=60),
            world.track("cat", "order_completed", order_id="c1", total=30),
        ]
    )


def put_segment(world: World, name: str, condition: Any, headers: dict[str, str]) -> Any:
    return world.api.http.put(
        f"/admin/segments/{name}",
        headers={**headers, "Content-Type": "application/json"},
        body=json.dumps({"condition": condition}).encode(),
    )


def test_funnel_conditions_and_templates_read_the_figures(
    world: World, admin_headers: dict[str, str]
) -> None:
    published = world.api.http.put(
        "/admin/funnels/by_figures",
        body=FUNNEL,
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert published.status_code == 201, published.body
    population(world)
    world.advance(timedelta(minutes=1))
    world.batch([world.track(u, "newsletter_signup") for u in ("ann", "bob", "cat", "dan")])

    sent = {}
    for user in ("ann", "bob", "cat", "dan"):
        (message,) = message_store.of_contact(world.contact_id(user))
        sent[user] = (message.step_id, message.content.get("subject"))
    assert sent == {
        "ann": ("vip", "2 orders, 300.5 spent, via google"),
        "bob": ("regular", "Welcome"),  # two orders, but came from the newsletter
        "cat": ("engaged", "You visit often"),  # four visits, 30 spent
        "dan": ("regular", "Welcome"),
    }


def test_saved_segments_on_figures(world: World, admin_headers: dict[str, str]) -> None:
    population(world)
    segments = {
        "repeat_buyers": {"attributes": {"orders_count": {"gte": 2}}},
        "big_spenders": {"attributes": {"total_spent": {"gte": 100}}},
        "frequent_visitors": {"attributes": {"sessions": {"gte": 2}}},
        "from_google": {"attributes": {"first_touch.source": "google"}},
    }
    for name, condition in segments.items():  # each saved with its backfill job run to its end
        saved = world.run_job(f"/admin/segments/{name}", admin_headers, {"condition": condition})
        assert saved["created"] is True

    def members() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {name: set() for name in segments}
        for user in ("ann", "bob", "cat", "dan"):
            stats = world.admin(f"/admin/stats/contacts/{world.contact_id(user)}", admin_headers)
            for name in stats["segments"]:
                found[name].add(user)
        return found

    assert members() == {
        "repeat_buyers": {"ann", "bob"},
        "big_spenders": {"ann", "bob"},
        "frequent_visitors": {"ann", "cat"},
        "from_google": {"ann", "cat"},
    }

    # Incrementally: dan's second and third orders make him a repeat buyer and a big spender.
    world.batch(
        [
            world.track("dan", "order_completed", order_id="d1", total=70),
            world.track("dan", "order_completed", order_id="d2", total=40),
        ]
    )
    assert members()["repeat_buyers"] == {"ann", "bob", "dan"}
    assert members()["big_spenders"] == {"ann", "bob", "dan"}

    # A cancellation takes bob back under both thresholds.
    world.batch([world.track("bob", "order_cancelled", order_id="b2")])
    assert members()["repeat_buyers"] == {"ann", "dan"}
    assert members()["big_spenders"] == {"ann", "dan"}


def test_a_segment_naming_an_unknown_field_is_refused(
    world: World, admin_headers: dict[str, str]
) -> None:
    refused = put_segment(
        world, "typo", {"attributes": {"first_touch.sorce": "google"}}, admin_headers
    )
    assert refused.status_code == 422
    assert "first_touch.sorce" in refused.json_body["error"]
    assert "source" in refused.json_body["error"]
