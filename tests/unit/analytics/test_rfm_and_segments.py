"""RFM quintiles and the segment map, and saved-segment conditions (pure core)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core import rfm
from chalicelib.core.segments import (
    InvalidSegment,
    is_member,
    listens_to,
    next_change,
    parse_segment,
)
from chalicelib.core.state import ContactView, PastEvent

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_quintile_scores_keep_ties_together() -> None:
    assert rfm.scores(list(range(10))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert rfm.scores([1, 1, 1, 1]) == [1, 1, 1, 1]  # everyone bought once: all F = 1
    assert rfm.scores([5, 1, 5]) == [2, 1, 2]  # few buyers: the top scores stay empty
    assert rfm.scores([7]) == [1]


def test_segment_map_covers_every_cell() -> None:
    grid = [[rfm.segment_of(r, fm) for fm in range(1, 6)] for r in range(5, 0, -1)]
    assert grid == [
        ["new", "potential", "loyal", "champions", "champions"],
        ["new", "potential", "loyal", "champions", "champions"],
        ["potential", "potential", "loyal", "loyal", "loyal"],
        ["hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"],
        ["lost", "lost", "at_risk", "at_risk", "cant_lose"],
    ]
    assert {s for row in grid for s in row} == set(rfm.SEGMENTS)


def test_recency_scores_favour_recent_orders() -> None:
    buyers = [
        rfm.Buyer("old", 1, 10, NOW - timedelta(days=300)),
        rfm.Buyer("recent", 1, 10, NOW - timedelta(hours=5)),
    ]
    scored = rfm.score_all(buyers, NOW)
    assert (scored["recent"].r, scored["recent"].recency_days) == (3, 0)
    assert (scored["old"].r, scored["old"].recency_days) == (1, 300)


SHOES = {
    "condition": {
        "all": [
            {"event": "viewed", "where": {"category": "shoes"}, "within": "7d", "at_least": 2},
            {"not": {"event": "order_completed"}},
        ]
    }
}


def view(*events: tuple[str, dict[str, str], datetime]) -> ContactView:
    return ContactView("c1", events=tuple(PastEvent(*e) for e in events))


def test_segment_condition_and_its_time_window() -> None:
    shoes = parse_segment("shoe_browsers", SHOES)
    first, second = NOW - timedelta(days=2), NOW - timedelta(days=1)
    two_views = view(
        ("viewed", {"category": "shoes"}, first), ("viewed", {"category": "shoes"}, second)
    )
    assert is_member(shoes, two_views, NOW)
    assert next_change(shoes, two_views, NOW) == first + timedelta(days=7, seconds=1)
    assert not is_member(shoes, two_views, first + timedelta(days=7, seconds=1))
    bought = view(*two_views.events, ("order_completed", {}, NOW))
    assert not is_member(shoes, bought, NOW)
    assert listens_to(shoes) == {"viewed", "order_completed"}
    vip = parse_segment("vip", {"condition": {"attributes": {"plan": "vip"}}})
    assert listens_to(vip) is None  # attributes may change on any call


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"condition": {"reaction": "opened", "messages": ["a"]}}, "reaction"),
        ({"condition": {"event": "x", "since_enrollment": True}}, "since_enrollment"),
        ({"condition": {"segment": "loop"}}, "itself"),
        ({"condition": {"nonsense": 1}}, "condition"),
        ([], "object"),
    ],
)
def test_invalid_segments(body: object, message: str) -> None:
    with pytest.raises(InvalidSegment, match=message):
        parse_segment("loop", body)
