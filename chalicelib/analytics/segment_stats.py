"""Saved segments' membership now and over time, from counters: a `members` gauge per segment
and entered/left per day; the members at the end of a past day are the gauge minus what changed
after that day."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.analytics import counters, keys, segment_store


def segments(first: date, today: date) -> list[dict[str, Any]]:
    changes: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    month = first.replace(day=1)
    while month <= today:
        scope = keys.segment_day_scope(datetime(month.year, month.month, 1))
        for metric, value in counters.read_range(scope, f"{first}", f"{today}~").items():
            day, name, figure = metric.split("#")
            changes[name][day][figure] = value
        month = (month + timedelta(days=32)).replace(day=1)
    rows = []
    for row in segment_store.rows():
        members = counters.read(keys.segment_scope(row.name)).get("members", 0)
        series, running = [], members
        day = today
        while day >= first:
            change = changes[row.name].get(str(day), {})
            entered, left = change.get("entered", 0), change.get("left", 0)
            series.append({"date": str(day), "members": running, "entered": entered, "left": left})
            running -= entered - left  # the members at the end of the day before
            day -= timedelta(days=1)
        series.reverse()
        rows.append(
            {
                "name": row.name,
                "description": row.description,
                "condition": row.condition,
                "members": members,
                "days": series,
            }
        )
    return rows
