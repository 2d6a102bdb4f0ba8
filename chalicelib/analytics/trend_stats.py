"""Per-day trend figures and first-touch cohorts, read from their counters scopes."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.analytics import counters, keys
from chalicelib.analytics.significance import rate

DAY_FIGURES = (
    "contacts",
    "events",
    "enrollments",
    "product_viewers",
    "carts",
    "checkouts",
    "orders",
    "first_orders",
    "repeat_buyers",
    "revenue",
    "refunds",
    "cancellations",
    "conversions",
    "conversion_revenue",
    "attributed_revenue",
)
MAX_DAYS = 366


def days(first: date, last: date) -> list[dict[str, Any]]:
    """Every day from `first` to `last` (inclusive), zeros included, one Query per month."""
    found: dict[str, float] = {}
    month = first.replace(day=1)
    while month <= last:
        at = datetime(month.year, month.month, 1)
        found.update(counters.read_range(keys.day_scope(at), f"{first}", f"{last}~"))
        month = (month + timedelta(days=32)).replace(day=1)
    rows = []
    day = first
    while day <= last:
        prefix = f"{day}#"
        mine = {m[len(prefix) :]: v for m, v in found.items() if m.startswith(prefix)}
        row: dict[str, Any] = {"date": str(day)}
        row.update({figure: mine.get(figure, 0) for figure in DAY_FIGURES})
        row["messages"] = {k[9:]: v for k, v in sorted(mine.items()) if k.startswith("messages#")}
        rows.append(row)
        day += timedelta(days=1)
    return rows


def cohorts() -> list[dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for metric, value in counters.read(keys.COHORTS_SCOPE).items():
        source, campaign, figure = metric.rsplit("#", 2)
        found[(source, campaign)][figure] = value
    rows = []
    for (source, campaign), numbers in sorted(found.items()):
        contacts, buyers = numbers.get("contacts", 0), numbers.get("buyers", 0)
        revenue = numbers.get("revenue", 0)
        rows.append(
            {
                "source": source,
                "campaign": campaign,
                "contacts": contacts,
                "buyers": buyers,
                "orders": numbers.get("orders", 0),
                "revenue": revenue,
                "buyer_rate": rate(buyers, contacts),
                "ltv_per_contact": round(revenue / contacts, 2) if contacts else None,
                "ltv_per_buyer": round(revenue / buyers, 2) if buyers else None,
            }
        )
    return rows


def by_source(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cohorts added up per source (all campaigns): average LTV per acquisition source."""
    total: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        for figure in ("contacts", "buyers", "orders", "revenue"):
            total[row["source"]][figure] += row[figure]
    out = []
    for source, numbers in sorted(total.items()):
        contacts, buyers, revenue = numbers["contacts"], numbers["buyers"], numbers["revenue"]
        out.append(
            {
                "source": source,
                "contacts": int(contacts),
                "buyers": int(buyers),
                "orders": int(numbers["orders"]),
                "revenue": round(revenue, 2),
                "ltv_per_contact": round(revenue / contacts, 2) if contacts else None,
                "ltv_per_buyer": round(revenue / buyers, 2) if buyers else None,
            }
        )
    return out
