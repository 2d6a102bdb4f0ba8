"""RFM scoring (pure): recency, frequency and monetary value scored 1-5 by quintiles of the
current buyers, mapped to named segments.

Quintiles with ties kept together: a buyer's score is 1 + floor(5 * b / n), where b is how
many of the n buyers did strictly worse (older last order; fewer orders; less money). Equal
values always share a score, the best buyer of ten distinct ones gets 5, the worst 1, and when
everyone has one order all get F = 1. With fewer than five buyers the top scores stay empty
(the best of three scores 2).

Segments come from R and FM = round-half-up((F + M) / 2), first rule that matches:

    champions    R >= 4 and FM >= 4        cant_lose    R <= 2 and FM = 5
    loyal        R >= 3 and FM >= 3        at_risk      R <= 2 and FM >= 3
    new          R >= 4 and FM = 1         hibernating  R = 2 and FM <= 2
    potential    R >= 3 (FM <= 2)          lost         R = 1 and FM <= 2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.state import utc

SEGMENTS = ("champions", "loyal", "potential", "new", "at_risk", "cant_lose", "hibernating", "lost")
DAY_SECONDS = 86400


@dataclass(frozen=True)
class Buyer:
    contact_id: str
    orders: int
    revenue: float
    last_order_at: datetime


@dataclass(frozen=True)
class Score:
    r: int
    f: int
    m: int
    recency_days: int

    @property
    def fm(self) -> int:
        return (self.f + self.m + 1) // 2

    @property
    def segment(self) -> str:
        return segment_of(self.r, self.fm)


def scores(values: Sequence[float]) -> list[int]:
    """Quintile score of each value (higher is better), ties sharing a score."""
    n = len(values)
    ordered = sorted(values)
    result = []
    for value in values:
        below = _count_below(ordered, value)
        result.append(1 + (5 * below) // n)
    return result


def _count_below(ordered: Sequence[float], value: float) -> int:
    low, high = 0, len(ordered)
    while low < high:  # bisect_left without the import noise
        mid = (low + high) // 2
        if ordered[mid] < value:
            low = mid + 1
        else:
            high = mid
    return low


def recency_days(last_order_at: datetime, now: datetime) -> int:
    return max(0, int((utc(now) - utc(last_order_at)).total_seconds() // DAY_SECONDS))


def score_all(buyers: Sequence[Buyer], now: datetime) -> dict[str, Score]:
    if not buyers:
        return {}
    days = [recency_days(b.last_order_at, now) for b in buyers]
    r = scores([-d for d in days])  # fewer days since the last order is better
    f = scores([b.orders for b in buyers])
    m = scores([b.revenue for b in buyers])
    return {b.contact_id: Score(r[i], f[i], m[i], days[i]) for i, b in enumerate(buyers)}


def segment_of(r: int, fm: int) -> str:
    if r >= 4 and fm >= 4:
        return "champions"
    if r >= 3 and fm >= 3:
        return "loyal"
    if r >= 4 and fm == 1:
        return "new"
    if r >= 3:
        return "potential"
    if fm == 5:
        return "cant_lose"
    if fm >= 3:
        return "at_risk"
    return "hibernating" if r == 2 else "lost"
