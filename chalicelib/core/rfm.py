"""RFM scoring (pure): recency, frequency and monetary value scored 1-5 by quintiles of the
current buyers, mapped to named segments.

Quintiles with ties kept together: a buyer's score is 1 + floor(5 * b / n), where b is how
many of the n buyers did strictly worse (older last order; fewer orders; less money). Equal
values always share a score, the best buyer of ten distinct ones gets 5, the worst 1, and when
everyone has one order all get F = 1. With fewer than five buyers the top scores stay empty
(the best of three scores 2). Values are compared at three significant digits (`quantize`), so
the distribution is a bounded histogram: the RFM job builds it in one paged pass over the
buyers and scores them in a second one, in memory that does not grow with their number.

Segments come from R and FM = round-half-up((F + M) / 2), first rule that matches:

    champions    R >= 4 and FM >= 4        cant_lose    R <= 2 and FM = 5
    loyal        R >= 3 and FM >= 3        at_risk      R <= 2 and FM >= 3
    new          R >= 4 and FM = 1         hibernating  R = 2 and FM <= 2
    potential    R >= 3 (FM <= 2)          lost         R = 1 and FM <= 2
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
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


def quantize(value: float) -> float:
    """Three significant digits: exact for whole numbers below 1,000 (days, order counts),
    money within 0.5% (49.99 and 50.00 tie). It bounds what a histogram keeps to about 900
    values per power of ten, whatever the number of buyers."""
    return float(f"{value:.3g}") if value else 0.0


@dataclass
class Histogram:
    """How many buyers have each (quantized) value: the distribution the quintiles come from,
    in memory that does not grow with the number of buyers."""

    counts: dict[float, int] = field(default_factory=dict)
    _cumulative: tuple[list[float], list[int]] | None = field(
        default=None, repr=False, compare=False
    )

    def add(self, value: float) -> None:
        key = quantize(value)
        self.counts[key] = self.counts.get(key, 0) + 1
        self._cumulative = None

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def below(self, value: float) -> int:
        """How many values are strictly smaller than `value` (quantized)."""
        keys, before = self._sums()
        return before[bisect_left(keys, quantize(value))]

    def above(self, value: float) -> int:
        keys, before = self._sums()
        return before[-1] - before[bisect_right(keys, quantize(value))]

    def _sums(self) -> tuple[list[float], list[int]]:
        if self._cumulative is None:
            keys = sorted(self.counts)
            before = [0]
            for key in keys:
                before.append(before[-1] + self.counts[key])
            self._cumulative = (keys, before)
        return self._cumulative

    def to_list(self) -> list[list[float]]:
        return [[key, self.counts[key]] for key in sorted(self.counts)]

    @classmethod
    def from_list(cls, pairs: Sequence[Sequence[float]]) -> Histogram:
        return cls({float(key): int(count) for key, count in pairs})


@dataclass
class Distribution:
    """Recency (days), frequency (orders) and monetary value (revenue) of every buyer, as
    histograms: built in one pass over the buyers, then each buyer is scored against it."""

    recency: Histogram = field(default_factory=Histogram)
    frequency: Histogram = field(default_factory=Histogram)
    monetary: Histogram = field(default_factory=Histogram)

    @property
    def n(self) -> int:
        return self.recency.n

    def add(self, buyer: Buyer, now: datetime) -> None:
        self.recency.add(recency_days(buyer.last_order_at, now))
        self.frequency.add(buyer.orders)
        self.monetary.add(buyer.revenue)

    def score(self, buyer: Buyer, now: datetime) -> Score:
        days = recency_days(buyer.last_order_at, now)
        n = self.n
        return Score(
            _quintile(self.recency.above(days), n),  # fewer days since the last order is better
            _quintile(self.frequency.below(buyer.orders), n),
            _quintile(self.monetary.below(buyer.revenue), n),
            days,
        )

    def to_dict(self) -> dict[str, list[list[float]]]:
        return {
            "recency": self.recency.to_list(),
            "frequency": self.frequency.to_list(),
            "monetary": self.monetary.to_list(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Sequence[Sequence[float]]]) -> Distribution:
        return cls(
            Histogram.from_list(data.get("recency", [])),
            Histogram.from_list(data.get("frequency", [])),
            Histogram.from_list(data.get("monetary", [])),
        )


def _quintile(worse: int, n: int) -> int:
    """1 + floor(5 * worse / n), at most 5 (a buyer who appeared after the distribution was
    taken may beat everyone in it)."""
    return min(5, 1 + (5 * worse) // n) if n else 1


def scores(values: Sequence[float]) -> list[int]:
    """Quintile score of each value (higher is better), ties sharing a score."""
    histogram = Histogram()
    for value in values:
        histogram.add(value)
    return [_quintile(histogram.below(value), len(values)) for value in values]


def recency_days(last_order_at: datetime, now: datetime) -> int:
    return max(0, int((utc(now) - utc(last_order_at)).total_seconds() // DAY_SECONDS))


def score_all(buyers: Sequence[Buyer], now: datetime) -> dict[str, Score]:
    distribution = Distribution()
    for buyer in buyers:
        distribution.add(buyer, now)
    return {buyer.contact_id: distribution.score(buyer, now) for buyer in buyers}


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
