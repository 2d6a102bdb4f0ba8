"""Durations ("30m", "1d12h") and times of day ("09:30") as they are written in funnel YAML.

Both are annotated types (chalicelib/core/plain.py) that serialise back to the same strings, so
a funnel survives `to_dict()` / `from_dict()` unchanged and its JSON Schema shows a pattern.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any

from chalicelib.core.plain import Before, Text

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)\s*([wdhms])")
DURATION_PATTERN = r"^\+?\s*(\d+\s*[wdhms]\s*)+$|^\+?0$"


def parse_duration(value: Any) -> timedelta:
    """'1d12h' -> timedelta. A leading '+' is allowed (story offsets); bare 0 means zero."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int) and value == 0:
        return timedelta(0)
    if not isinstance(value, str):
        raise ValueError(f"a duration is a string like '30m', '2h', '3d', got {value!r}")
    text = value.strip().removeprefix("+").strip()
    if text == "0":
        return timedelta(0)
    parts = _PART.findall(text)
    if not parts or _PART.sub("", text).strip():
        raise ValueError(f"bad duration {value!r}: use a number and a unit w/d/h/m/s, e.g. '1d12h'")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def format_duration(delta: timedelta) -> str:
    """timedelta -> '1d12h' (the inverse of parse_duration; '0s' for zero)."""
    seconds = int(delta.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    out = []
    for unit in ("d", "h", "m", "s"):
        n, seconds = divmod(seconds, _UNITS[unit])
        if n:
            out.append(f"{n}{unit}")
    return sign + ("".join(out) or "0s")


def parse_time_of_day(value: Any) -> time:
    """'09:30' -> time(9, 30). Also accepts what YAML 1.1 makes of an unquoted 09:30 (570)."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)  # PyYAML reads 21:30 as sexagesimal 1290
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)
        if m and int(m[1]) < 24 and int(m[2]) < 60:
            return time(int(m[1]), int(m[2]))
    raise ValueError(f"bad time of day {value!r}: use 'HH:MM', e.g. '09:30'")


def format_time_of_day(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


Duration = Annotated[
    timedelta,
    Before(parse_duration),
    Text(
        timedelta,
        format_duration,
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["30m", "1d12h"]},
    ),
]

TimeOfDay = Annotated[
    time,
    Before(parse_time_of_day),
    Text(
        time,
        format_time_of_day,
        {"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["09:00"]},
    ),
]
