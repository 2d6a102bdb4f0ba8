"""Medians from the counters' duration histograms (bucket seconds -> count)."""

from __future__ import annotations

from collections.abc import Mapping


def median(buckets: Mapping[int, float]) -> float | None:
    """The median of the bucketed values: the middle one, or the mean of the two middle ones."""
    total = int(sum(buckets.values()))
    if total <= 0:
        return None
    ordered = sorted((value, int(count)) for value, count in buckets.items() if count > 0)

    def nth(n: int) -> int:  # 0-based
        seen = 0
        for value, count in ordered:
            seen += count
            if n < seen:
                return value
        return ordered[-1][0]

    if total % 2:
        return float(nth(total // 2))
    return (nth(total // 2 - 1) + nth(total // 2)) / 2
