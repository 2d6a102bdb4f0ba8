"""The RFM job (daily, or `POST /admin/jobs/rfm`): a paged job in two passes over the buyers,
read from the sparse `by_buyer` index one Query page at a time (never a Scan):

1. `distribution`: every buyer's recency, frequency and money into three bounded histograms
   (chalicelib.core.rfm.Distribution), carried from page to page in the job's state;
2. `score`: each buyer against that distribution. Scores that changed are stored on the buyer's
   stats together with the job id, `rfm_segment` and `lifetime_value` go onto the contact,
   `rfm_segment_changed {segment, previous}` is appended to the event log for the worker to hand
   to funnels (its id derives from the job's time: stored once), and the grid's counts and
   revenue add up in the job's state.

The finish step rewrites the RFM snapshot (grid counts, LTV per segment) the dashboard reads.
A page handled again after a crash finds its buyers marked with the job id and counts them
from the mark, so every buyer counts once and every change is emitted once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.analytics import contact_attributes, counters, emit, keys
from chalicelib.analytics.contact_stats import BUYER_SHARDS
from chalicelib.core import rfm
from chalicelib.core.segments import RFM_SEGMENT_CHANGED
from chalicelib.paging.kinds import Pass, Work
from chalicelib.paging.sources import IndexQuery, shards
from chalicelib.storage.models import ContactStats

KIND = "rfm"


class RfmScoring:
    """The job kind."""

    name = KIND
    counts = ("buyers", "changed")

    def __init__(self) -> None:
        self._distribution: tuple[str, rfm.Distribution] | None = None

    def passes(self, work: Work) -> Sequence[Pass]:
        buyers = IndexQuery(ContactStats.by_buyer, shards("b", BUYER_SHARDS), counts_all=True)
        return [
            Pass("distribution", buyers, self.measure, page_size=1000),
            Pass("score", buyers, self.score, page_size=200, total=_measured),
        ]

    def measure(self, work: Work, rows: Sequence[ContactStats]) -> None:
        distribution = rfm.Distribution.from_dict(work.state.get("distribution", {}))
        for row in rows:
            buyer = _buyer(row)
            if buyer is not None:
                distribution.add(buyer, work.as_of)
                work.count("measured")
        work.state["distribution"] = distribution.to_dict()

    def score(self, work: Work, rows: Sequence[ContactStats]) -> None:
        distribution = self._distribution_of(work)
        grid = work.state.setdefault("grid", {})
        for row in rows:
            buyer = _buyer(row)
            if buyer is None:
                continue
            score = distribution.score(buyer, work.as_of)
            work.count("buyers")
            if self._store(work, row, score):
                work.count("changed")
            for metric, amount in _cells(score, float(row.revenue)).items():
                grid[metric] = grid.get(metric, 0) + amount

    def finish(self, work: Work) -> None:
        counters.put(keys.RFM_SCOPE, snapshot(work.state.get("grid", {}), work))

    def _distribution_of(self, work: Work) -> rfm.Distribution:
        """Parsed once per job and container (the score pass only reads it)."""
        if self._distribution is None or self._distribution[0] != work.job_id:
            distribution = rfm.Distribution.from_dict(work.state.get("distribution", {}))
            self._distribution = (work.job_id, distribution)
        return self._distribution[1]

    def _store(self, work: Work, row: ContactStats, score: rfm.Score) -> bool:
        """Store a changed score; True when the segment changed (now or, for a page handled
        again, by this job's earlier attempt)."""
        previous = _plain(row.rfm)
        if previous.get("job") == work.job_id:
            return bool(previous.get("changed"))
        ltv = _money(row.revenue)
        mine = {"r": score.r, "f": score.f, "m": score.m, "segment": score.segment, "ltv": ltv}
        if {k: previous.get(k) for k in mine} == mine:
            return False
        changed = previous.get("segment") != score.segment
        contact_attributes.set_attributes(
            row.contact_id, {"rfm_segment": score.segment, "lifetime_value": ltv}
        )
        if changed:
            event = emit.event(
                row.contact_id,
                RFM_SEGMENT_CHANGED,
                work.as_of,
                segment=score.segment,
                previous=previous.get("segment"),
            )
            emit.emit([event])  # appended once: a page handled again finds it in the log
        mark = {"at": work.as_of.isoformat(), "job": work.job_id, "changed": changed}
        row.update(actions=[ContactStats.rfm.set({**mine, **mark})])
        return changed


def _measured(work: Work) -> int:
    return int(work.counts.get("measured", 0))


def _buyer(row: ContactStats) -> rfm.Buyer | None:
    # A buyer whose every order was cancelled or refunded is no buyer any more.
    if row.merged_into or not row.last_order_at or not row.orders or row.orders <= 0:
        return None
    return rfm.Buyer(row.contact_id, int(row.orders), float(row.revenue), row.last_order_at)


def _cells(score: rfm.Score, revenue: float) -> dict[str, float]:
    return {
        f"cell#{score.r}#{score.fm}#count": 1,
        f"cell#{score.r}#{score.fm}#revenue": revenue,
        f"segment#{score.segment}#count": 1,
        f"segment#{score.segment}#revenue": revenue,
    }


def snapshot(grid: dict[str, float], work: Work) -> dict[str, float]:
    """Every cell and segment, zeros included, so a rewrite leaves nothing stale."""
    values: dict[str, float] = {}
    for r in range(1, 6):
        for fm in range(1, 6):
            values[f"cell#{r}#{fm}#count"] = 0
            values[f"cell#{r}#{fm}#revenue"] = 0
    for name in rfm.SEGMENTS:
        values[f"segment#{name}#count"] = 0
        values[f"segment#{name}#revenue"] = 0
    values.update(grid)
    values["buyers"] = int(work.counts.get("buyers", 0))
    values["scored_at"] = int(work.as_of.timestamp())
    return {metric: round(value, 2) for metric, value in values.items()}


def read() -> dict[str, Any]:
    """The last run's grid (R rows x FM columns) and segments with their average LTV."""
    found = counters.read(keys.RFM_SCOPE)
    grid = [
        [
            {
                "r": r,
                "fm": fm,
                "segment": rfm.segment_of(r, fm),
                "count": found.get(f"cell#{r}#{fm}#count", 0),
                "revenue": found.get(f"cell#{r}#{fm}#revenue", 0),
            }
            for fm in range(1, 6)
        ]
        for r in range(5, 0, -1)
    ]
    segments = []
    for name in rfm.SEGMENTS:
        count = found.get(f"segment#{name}#count", 0)
        revenue = found.get(f"segment#{name}#revenue", 0)
        segments.append(
            {
                "segment": name,
                "count": count,
                "revenue": revenue,
                "avg_ltv": round(revenue / count, 2) if count else None,
            }
        )
    scored_at = found.get("scored_at")
    return {
        "buyers": found.get("buyers", 0),
        "scored_at": datetime.fromtimestamp(scored_at, UTC).isoformat() if scored_at else None,
        "grid": grid,
        "segments": segments,
    }


def _plain(value: Any) -> dict[str, Any]:
    return value.as_dict() if value is not None and hasattr(value, "as_dict") else dict(value or {})


def _money(value: float) -> float:
    value = round(float(value), 2)
    return int(value) if value.is_integer() else value
