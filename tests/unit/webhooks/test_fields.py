"""Loosely typed webhook fields: values no shop would send fall back instead of crashing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.webhooks import fields

RECEIVED = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("49.90", 49.9), (12, 12.0), ("1e26", None), ("NaN", None), ("abc", None), (True, None)],
)
def test_money(value: object, expected: float | None) -> None:
    assert fields.money(value) == expected


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1900-01-01T00:00:00Z", "x"]
)
def test_timestamps_outside_1970_to_2200_fall_back_to_receipt(value: str) -> None:
    assert fields.timestamp(value, RECEIVED) == RECEIVED


@pytest.mark.parametrize("value", [1e20, -1, "inf", None, [1]])
def test_epochs_outside_the_range_fall_back_to_receipt(value: object) -> None:
    assert fields.epoch(value, RECEIVED) == RECEIVED
