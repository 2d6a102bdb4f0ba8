"""Calendar math in the contact's time zone: waits until a time of day, quiet hours, caps.

All functions take and return aware UTC datetimes; local time is only used inside.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from chalicelib.core.durations import format_duration
from chalicelib.core.funnel import Cap, Funnel, Policy, QuietHours, SendStep
from chalicelib.core.state import utc

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except Exception:  # a contact's bad tz string must not break the funnel
        return None


def resolve_zone(contact_tz: str | None, policy_tz: str | None) -> tzinfo:
    # datetime.UTC, not ZoneInfo("UTC"): it works even without a time zone database.
    return zone(contact_tz) or zone(policy_tz) or UTC


def _local(day: date, at: time, tz: tzinfo) -> datetime:
    return utc(datetime.combine(day, at, tzinfo=tz))


def next_time_of_day(
    base: datetime, at: time, weekdays: Sequence[str] | None, tz: tzinfo, strict: bool = False
) -> datetime:
    """The first moment >= base (> base when strict) when the local clock shows `at` on an
    allowed weekday."""
    local_day = base.astimezone(tz).date()
    for offset in range(0, 9):
        day = local_day + timedelta(days=offset)
        if weekdays and _WEEKDAYS[day.weekday()] not in weekdays:
            continue
        candidate = _local(day, at, tz)
        if candidate > base or (candidate == base and not strict):
            return candidate
    raise AssertionError("unreachable: some day within 8 days matches")


def quiet_until(t: datetime, quiet: QuietHours, tz: tzinfo) -> datetime | None:
    """End of the quiet period `t` falls in, or None when sending at `t` is fine."""
    if quiet.start == quiet.end:
        return None
    local = t.astimezone(tz)
    tod = local.time().replace(tzinfo=None)
    today = local.date()
    if quiet.start < quiet.end:  # e.g. 13:00-14:00
        return _local(today, quiet.end, tz) if quiet.start <= tod < quiet.end else None
    if tod >= quiet.start:  # e.g. 21:00-09:00, evening part
        return _local(today + timedelta(days=1), quiet.end, tz)
    if tod < quiet.end:  # morning part
        return _local(today, quiet.end, tz)
    return None


def cap_free_at(t: datetime, sends: Iterable[datetime], cap: Cap) -> datetime | None:
    """When another send becomes allowed under the cap, or None if one is allowed at `t`."""
    window = sorted(s for s in sends if t - cap.per < s <= t)
    if len(window) < cap.max:
        return None
    return window[len(window) - cap.max] + cap.per


def _ceil_minute(t: datetime) -> datetime:
    seconds = t.timestamp()
    return datetime.fromtimestamp(math.ceil(seconds / 60) * 60, t.tzinfo)


def effective(step_policy: Policy | None, funnel_policy: Policy) -> Policy:
    """Step policy over funnel policy: None inherits, False switches off."""
    if step_policy is None:
        return funnel_policy
    return Policy(
        timezone=step_policy.timezone or funnel_policy.timezone,
        quiet_hours=funnel_policy.quiet_hours
        if step_policy.quiet_hours is None
        else step_policy.quiet_hours,
        cap=funnel_policy.cap if step_policy.cap is None else step_policy.cap,
    )


def workspace_caps(step_policy: Policy | None, workspace_cap: Cap | None) -> tuple[Cap, ...]:
    """The deployment-wide cap applies to a send step unless the step says `cap: false`."""
    if workspace_cap is None or (step_policy is not None and step_policy.cap is False):
        return ()
    return (workspace_cap,)


def cap_window(funnel: Funnel, workspace_cap: Cap | None = None) -> timedelta:
    """How far back a contact's sends must be known to apply every cap this funnel's sends
    obey (zero when none: then nothing needs reading)."""
    caps = [funnel.policy.cap, workspace_cap]
    caps += [step.policy.cap for step in funnel.steps if isinstance(step, SendStep) and step.policy]
    return max((cap.per for cap in caps if cap), default=timedelta(0))


def next_allowed(
    now: datetime,
    policy: Policy,
    tz: tzinfo,
    sends: Sequence[datetime],
    also: Sequence[Cap] = (),
) -> tuple[datetime, str]:
    """(`now`, "") if a send is allowed now, else (the next whole minute that passes quiet
    hours and every cap: the policy's and `also`, why). Caps only get freer as time passes,
    so alternating converges."""
    t, why = now, []
    caps = [*([policy.cap] if policy.cap else []), *also]
    for _ in range(50):
        moved = False
        if policy.quiet_hours:
            end = quiet_until(t, policy.quiet_hours, tz)
            if end is not None:
                t, moved = end, True
                why.append("quiet hours")
        for cap in caps:
            free = cap_free_at(t, sends, cap)
            if free is not None:
                t, moved = _ceil_minute(free), True
                why.append(f"cap {cap.max} per {format_duration(cap.per)}")
        if not moved:
            break
    return t, " + ".join(dict.fromkeys(why))
