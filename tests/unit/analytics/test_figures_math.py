"""The pure arithmetic behind the figures: durations, medians, the z-test."""

from __future__ import annotations

import math

from chalicelib.analytics.histogram import median
from chalicelib.analytics.significance import compare
from chalicelib.analytics.step_figures import duration_bucket
from chalicelib.analytics.tally import Tally


def test_duration_buckets_keep_round_waits_exact() -> None:
    assert [
        duration_bucket(s) for s in (0, 59.9, 119, 1800, 1859, 86400, 90061, 3 * 86400 + 5)
    ] == [
        0,
        59,
        119,
        1800,
        1800,
        86400,
        90000,  # 25 h 1 min 1 s: whole hours below two days
        3 * 86400,
    ]


def test_median_of_a_histogram() -> None:
    assert median({}) is None
    assert median({1800: 3}) == 1800
    assert median({0: 1, 1800: 1}) == 900  # even count: mean of the two middle values
    assert median({60: 2, 3600: 1, 86400: 2}) == 3600


def test_z_test_by_hand() -> None:
    result = compare(30, 100, 10, 100)
    assert result.lift == 2.0
    assert math.isclose(result.z or 0, 3.5355339, rel_tol=1e-6)
    assert math.isclose(result.p_value or 0, 0.000406952, rel_tol=1e-5)
    assert result.significant and result.enough_data
    small = compare(2, 10, 1, 10)
    assert small.lift == 1.0 and not small.significant and not small.enough_data
    assert compare(0, 0, 1, 10).z is None


def test_tally_adds_money_exactly_and_drops_zeroes() -> None:
    tally = Tally()
    tally.add("s", "revenue", 0.1)
    tally.add("s", "revenue", 0.2)
    tally.add("s", "waiting", 1)
    tally.add("s", "waiting", -1)
    assert tally.as_dict() == {"s|revenue": 0.3}
