"""The site-wide funnel over a known population, through the real ingest API: visitors ->
product viewers -> carts -> checkouts -> buyers -> repeat buyers, per day, week and first-touch
source, with the conversion between stages; every figure exact."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from click.testing import CliRunner

from tests.integration.analytics.population import World

GOOGLE_WEEK_1 = [f"g{n:02d}" for n in range(20)]
NEWSLETTER = [f"n{n:02d}" for n in range(10)]
DIRECT = [f"d{n:02d}" for n in range(10)]
GOOGLE_WEEK_2 = [f"g{n:02d}" for n in range(20, 25)]


def arrive(world: World, users: list[str], source: str | None) -> None:
    query = f"?utm_source={source}&utm_medium=cpc" if source else ""
    world.batch(
        [
            {
                "type": "page",
                "userId": user,
                "properties": {"url": f"https://shop.example.com/{query}"},
                "context": {"sessionStart": True},
            }
            for user in users
        ]
    )


def do(world: World, event: str, users: list[str], **properties: Any) -> list[bytes]:
    return world.batch([world.track(user, event, **properties) for user in users])


def population(world: World) -> list[bytes]:
    """Returns the last request's body (to replay it)."""
    # Monday: 20 from Google, 10 from the newsletter.
    arrive(world, GOOGLE_WEEK_1, "google")
    arrive(world, NEWSLETTER, "newsletter")
    # An anonymous visitor from Google views a product, then logs in as g05: one person.
    anonymous = {"anonymousId": "anon-g05"}
    world.batch(
        [
            {
                "type": "page",
                **anonymous,
                "properties": {"url": "https://shop.example.com/?utm_source=google"},
            },
            {"type": "track", **anonymous, "event": "Product Viewed", "properties": {}},
        ]
    )
    do(world, "product_viewed", GOOGLE_WEEK_1[:12] + NEWSLETTER[:6])
    world.batch([{"type": "identify", **anonymous, "userId": "g05", "traits": {}}])
    do(world, "cart_updated", GOOGLE_WEEK_1[:8] + NEWSLETTER[:3], items_count=1)
    do(world, "checkout_started", GOOGLE_WEEK_1[:5] + NEWSLETTER[:2])
    do(world, "product_viewed", GOOGLE_WEEK_1[:2])  # again: nothing new
    world.advance(timedelta(hours=2))
    do(world, "order_completed", GOOGLE_WEEK_1[:3] + NEWSLETTER[:1], total=50)

    # Tuesday: 10 direct visitors; d09 orders through the shop without browsing first.
    world.advance(timedelta(days=1))
    arrive(world, DIRECT, None)
    do(world, "product_viewed", DIRECT[:4])
    do(world, "cart_updated", DIRECT[:1], items_count=1)
    do(world, "order_completed", DIRECT[9:], total=30)

    # Wednesday: g00 orders again (a repeat buyer).
    world.advance(timedelta(days=1))
    do(world, "order_completed", GOOGLE_WEEK_1[:1], total=20)

    # The next Monday: 5 more from Google, one goes all the way; n00 orders again.
    world.advance(timedelta(days=5))
    arrive(world, GOOGLE_WEEK_2, "google")
    do(world, "product_viewed", GOOGLE_WEEK_2[:2])
    do(world, "cart_updated", GOOGLE_WEEK_2[:1], items_count=1)
    do(world, "checkout_started", GOOGLE_WEEK_2[:1])
    return do(world, "order_completed", GOOGLE_WEEK_2[:1] + NEWSLETTER[:1], total=60)


def counts(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(
        row[s]
        for s in ("visitors", "product_viewers", "carts", "checkouts", "buyers", "repeat_buyers")
    )


def test_site_funnel_figures(world: World, admin_headers: dict[str, str]) -> None:
    last_request = population(world)

    def site(by: str) -> dict[str, Any]:
        return world.admin(
            f"/admin/stats/site?from=2026-11-23&to=2026-11-30&by={by}", admin_headers
        )

    by_source = site("source")
    assert counts(by_source["total"]) == (45, 25, 14, 9, 6, 2)
    rows = {row["source"]: counts(row) for row in by_source["rows"]}
    assert rows == {
        "google": (25, 14, 9, 6, 4, 1),
        "newsletter": (10, 6, 3, 2, 1, 1),
        "direct": (10, 5, 2, 1, 1, 0),  # d09 bought without a product view: counted at each stage
    }
    total = by_source["total"]
    assert total["from_previous"] == {
        "product_viewers": 25 / 45,
        "carts": 14 / 25,
        "checkouts": 9 / 14,
        "buyers": 6 / 9,
        "repeat_buyers": 2 / 6,
    }
    assert total["from_visitors"]["buyers"] == 6 / 45

    by_week = {row["week"]: counts(row) for row in site("week")["rows"]}
    assert by_week == {
        "2026-11-23": (40, 23, 13, 8, 5, 2),  # n00's second order came a week later: still here
        "2026-11-30": (5, 2, 1, 1, 1, 0),
    }
    by_day = {row["day"]: counts(row) for row in site("day")["rows"]}
    assert by_day["2026-11-23"] == (30, 18, 11, 7, 4, 2)
    assert by_day["2026-11-24"] == (10, 5, 2, 1, 1, 0)
    assert by_day["2026-11-25"] == (0, 0, 0, 0, 0, 0)
    assert len(by_day) == 8

    # The activity view: carts, checkouts, repeat buyers reached for the first time each day.
    days = {
        row["date"]: row
        for row in world.admin("/admin/stats/days?from=2026-11-23&to=2026-11-30", admin_headers)[
            "days"
        ]
    }
    assert [days[d]["carts"] for d in ("2026-11-23", "2026-11-24", "2026-11-30")] == [11, 2, 1]
    assert days["2026-11-23"]["checkouts"] == 7 and days["2026-11-24"]["checkouts"] == 1
    assert days["2026-11-25"]["repeat_buyers"] == 1 and days["2026-11-30"]["repeat_buyers"] == 1

    # A client retrying the last request: stored once, counted once.
    for body in last_request:
        assert world.post(body)["duplicates"] == 2
    assert counts(site("source")["total"]) == (45, 25, 14, 9, 6, 2)


def test_stats_site_in_the_terminal(
    world: World, admin_headers: dict[str, str], monkeypatch: Any
) -> None:
    from autofunnel import stats_commands

    population(world)
    answers = {}

    def call(self: Any, method: str, path: str, body: bytes | None = None) -> Any:
        response = world.api.http.get(path, headers=admin_headers)
        answers[path] = response.json_body
        return response.status_code, response.json_body

    monkeypatch.setattr(stats_commands.AdminApi, "call", call)
    monkeypatch.setattr(
        stats_commands, "_site_query", lambda by, days: f"by={by}&from=2026-11-23&to=2026-11-30"
    )
    result = CliRunner().invoke(stats_commands.stats, ["--site", "--by", "source"])
    assert result.exit_code == 0, result.output
    assert "visitors" in result.output and "repeat buyers" in result.output
    assert "55.6% of previous" in result.output  # product viewers: 25 of 45
    lines = [line for line in result.output.splitlines() if line.strip().startswith("│ google")]
    assert lines and "25" in lines[0] and "16.0%" in lines[0]  # 4 of 25 Google visitors bought
