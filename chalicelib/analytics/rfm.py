"""The RFM job (scheduled daily, or `POST /admin/stats/rfm/run`): scores every buyer against
today's quintiles, stores each one's scores, writes `rfm_segment` and `lifetime_value` onto the
contact, emits `rfm_segment_changed {segment, previous}` for funnels, and rewrites the RFM
snapshot (grid counts, LTV per segment) that the dashboard reads.

Buyers come from the sparse `by_buyer` index (one Query per shard), never from a Scan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.analytics import contact_attributes, counters, emit, keys
from chalicelib.analytics.contact_stats import BUYER_SHARDS
from chalicelib.core import rfm
from chalicelib.core.segments import RFM_SEGMENT_CHANGED
from chalicelib.storage.models import ContactStats


@dataclass(frozen=True)
class RfmRun:
    buyers: int
    changed: int  # buyers whose segment changed (events emitted)


def buyers() -> Iterator[ContactStats]:
    for shard in range(BUYER_SHARDS):
        yield from ContactStats.by_buyer.query(f"b{shard}")


def run(now: datetime) -> RfmRun:
    rows = [  # a buyer whose every order was cancelled or refunded is no buyer any more
        row for row in buyers() if not row.merged_into and row.last_order_at and row.orders > 0
    ]
    scored = rfm.score_all(
        [
            rfm.Buyer(row.contact_id, int(row.orders), float(row.revenue), row.last_order_at)
            for row in rows
        ],
        now,
    )
    changed = []
    for row in rows:
        score = scored[row.contact_id]
        previous = _plain(row.rfm)
        ltv = _money(row.revenue)
        mine = {"r": score.r, "f": score.f, "m": score.m, "segment": score.segment, "ltv": ltv}
        if {k: previous.get(k) for k in mine} == mine:
            continue
        row.update(actions=[ContactStats.rfm.set({**mine, "at": now.isoformat()})])
        contact_attributes.set_attributes(
            row.contact_id, {"rfm_segment": score.segment, "lifetime_value": ltv}
        )
        if previous.get("segment") != score.segment:
            changed.append(
                emit.event(
                    row.contact_id,
                    RFM_SEGMENT_CHANGED,
                    now,
                    segment=score.segment,
                    previous=previous.get("segment"),
                )
            )
    counters.put(keys.RFM_SCOPE, snapshot(rows, scored, now))
    emit.emit(changed)
    return RfmRun(len(rows), len(changed))


def snapshot(
    rows: list[ContactStats], scored: dict[str, rfm.Score], now: datetime
) -> dict[str, float]:
    """Every cell and segment, zeros included, so a rewrite leaves nothing stale."""
    values: dict[str, float] = defaultdict(float)
    for r in range(1, 6):
        for fm in range(1, 6):
            values[f"cell#{r}#{fm}#count"] = 0
            values[f"cell#{r}#{fm}#revenue"] = 0
    for name in rfm.SEGMENTS:
        values[f"segment#{name}#count"] = 0
        values[f"segment#{name}#revenue"] = 0
    for row in rows:
        score = scored[row.contact_id]
        revenue = float(row.revenue)
        values[f"cell#{score.r}#{score.fm}#count"] += 1
        values[f"cell#{score.r}#{score.fm}#revenue"] += revenue
        values[f"segment#{score.segment}#count"] += 1
        values[f"segment#{score.segment}#revenue"] += revenue
    values["buyers"] = len(rows)
    values["scored_at"] = int(now.timestamp())
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
