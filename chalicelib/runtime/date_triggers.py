"""Date-triggered funnels (birthdays, subscription ends ± days): who is due, without a scan.

Date attributes are marked by month and day as profiles change; an hourly paged job
(runtime/periodic_jobs.py) queries the marks for the days that can be "today" somewhere
(UTC ± 1 day), shifted by each funnel's offset, and the engine's `matches_date_trigger` decides
per contact in the contact's own time zone.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.storage.models import DateMark


def plain_date(value: Any) -> date | None:
    """A date attribute's day: "1990-05-17", or the date part of an ISO timestamp."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def dates_to_mark(attributes: Mapping[str, Any], watched: Iterable[str]) -> dict[str, date]:
    """The attributes worth a mark: those date funnels watch, and any plain YYYY-MM-DD value
    (so a funnel published later still finds birthdays collected before it)."""
    wanted = set(watched)
    found = {}
    for name, value in attributes.items():
        is_plain = isinstance(value, str) and len(value) == 10
        if name in wanted or is_plain:
            day = plain_date(value)
            if day is not None:
                found[name] = day
    return found


def mark(contact_id: str, dates: Mapping[str, date]) -> None:
    if not dates:
        return
    with DateMark.batch_write() as batch:
        for name, day in dates.items():
            batch.save(DateMark(f"{name}#{day:%m-%d}", contact_id))


def mark_key(attribute: str, value: Any) -> str | None:
    """The day key a contact's current value is marked under (None: not a date)."""
    day = plain_date(value)
    return f"{attribute}#{day:%m-%d}" if day is not None else None


def day_keys(attribute: str, offset_days: int, today: date) -> list[str]:
    keys = []
    for shift in (-1, 0, 1):
        day = today + timedelta(days=shift - offset_days)
        keys.append(f"{attribute}#{day:%m-%d}")
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            keys.append(f"{attribute}#02-29")  # leap-day birthdays are kept on the 28th
    return keys
