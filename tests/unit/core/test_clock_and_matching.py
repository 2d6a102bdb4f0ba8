"""Calendar math (quiet hours, caps, times of day across DST) and property filters."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter

from chalicelib.core import clock
from chalicelib.core.durations import format_duration, parse_duration, parse_time_of_day
from chalicelib.core.funnel import Cap, Policy, QuietHours
from chalicelib.core.matching import Where, matches

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = QuietHours(start=time(21), end=time(8))


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("1d12h", 129600), ("+2w", 1209600), ("90s", 90), ("0", 0), (0, 0)],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["", "3 days", "1x", "d", True, 5, "1d-2h"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_duration_formatting_round_trips() -> None:
    for text in ("30m", "1d12h", "3d30m", "45s", "2d"):
        assert format_duration(parse_duration(text)) == text


def test_time_of_day_accepts_yaml_sexagesimal() -> None:
    assert parse_time_of_day("09:30") == time(9, 30)
    assert parse_time_of_day(1290) == time(21, 30)  # what PyYAML makes of an unquoted 21:30
    with pytest.raises(ValueError):
        parse_time_of_day("25:00")


def test_quiet_hours_wrapping_midnight() -> None:
    assert clock.quiet_until(berlin(2024, 3, 4, 22), NIGHT, BERLIN) == berlin(2024, 3, 5, 8)
    assert clock.quiet_until(berlin(2024, 3, 5, 3), NIGHT, BERLIN) == berlin(2024, 3, 5, 8)
    assert clock.quiet_until(berlin(2024, 3, 5, 8), NIGHT, BERLIN) is None
    assert clock.quiet_until(berlin(2024, 3, 5, 20, 59), NIGHT, BERLIN) is None
    lunch = QuietHours(start=time(13), end=time(14))
    assert clock.quiet_until(berlin(2024, 3, 5, 13, 30), lunch, BERLIN) == berlin(2024, 3, 5, 14)


def test_quiet_hours_across_the_dst_switch() -> None:
    # 31 March 2024: Berlin jumps from 02:00 to 03:00; 08:00 local is 06:00 UTC that day.
    assert clock.quiet_until(berlin(2024, 3, 30, 23), NIGHT, BERLIN) == datetime(
        2024, 3, 31, 6, tzinfo=UTC
    )


def test_cap_free_at() -> None:
    t = datetime(2024, 1, 1, 12, tzinfo=UTC)
    cap = Cap(max=2, per=timedelta(hours=24))
    sends = [t - timedelta(hours=20), t - timedelta(hours=2), t - timedelta(hours=30)]
    assert clock.cap_free_at(t, sends, cap) == t + timedelta(hours=4)
    assert clock.cap_free_at(t, sends[:1], cap) is None


def test_next_allowed_combines_quiet_hours_and_caps() -> None:
    policy = Policy(quiet_hours=NIGHT, cap=Cap(max=1, per=timedelta(hours=12)))
    now = berlin(2024, 3, 4, 15)
    sent = [berlin(2024, 3, 4, 14)]  # frees at 02:00, inside quiet hours -> 08:00
    assert clock.next_allowed(now, policy, BERLIN, sent) == (
        berlin(2024, 3, 5, 8),
        "cap 1 per 12h + quiet hours",
    )
    assert clock.next_allowed(now, Policy(), BERLIN, sent) == (now, "")


def test_next_time_of_day_with_weekdays_and_strictness() -> None:
    mon_10 = berlin(2024, 3, 4, 10)
    assert clock.next_time_of_day(mon_10, time(10), None, BERLIN) == mon_10
    assert clock.next_time_of_day(mon_10, time(10), None, BERLIN, strict=True) == berlin(
        2024, 3, 5, 10
    )
    assert clock.next_time_of_day(mon_10, time(9), ["sat", "sun"], BERLIN) == berlin(2024, 3, 9, 9)


def test_bad_contact_timezone_falls_back() -> None:
    assert clock.resolve_zone("Not/AZone", "Europe/Berlin") == BERLIN
    assert clock.resolve_zone(None, None) == UTC


WHERE = TypeAdapter(Where)


@pytest.mark.parametrize(
    ("where", "data", "expected"),
    [
        ({"status": "paid"}, {"status": "paid"}, True),
        ({"status": ["paid", "shipped"]}, {"status": "shipped"}, True),
        ({"coupon": None}, {}, True),
        ({"coupon": None}, {"coupon": "X"}, False),
        ({"total": {"gt": 100}}, {"total": "120.50"}, True),  # numeric strings compare as numbers
        ({"total": {"gte": 100, "lt": 200}}, {"total": 250}, False),
        ({"total": {"gt": 1}}, {"total": "lots"}, False),  # incompatible types never crash
        ({"total": {"gt": 1}}, {}, False),
        ({"total": {"ne": 1}}, {}, True),
        ({"cart.items.0.sku": "A1"}, {"cart": {"items": [{"sku": "A1"}]}}, True),
        ({"cart.items.5.sku": "A1"}, {"cart": {"items": [{"sku": "A1"}]}}, False),
        ({"tags": {"contains": "vip"}}, {"tags": ["new", "vip"]}, True),
        ({"title": {"contains": "sale"}}, {"title": "big sale"}, True),
        ({"flag": True}, {"flag": 1}, False),  # booleans are not numbers
        ({"n": {"not_in": [1, 2]}}, {"n": 3}, True),
        ({"n": {"exists": True}}, {"n": 0}, True),
    ],
)
def test_where_filters(where: dict, data: dict, expected: bool) -> None:
    assert matches(data, WHERE.validate_python(where)) is expected
