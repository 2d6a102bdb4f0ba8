"""What one committed enrollment step or one new message status adds to the funnel figures.

Pure: (before, after, trace, messages, now) -> Tally. The runtime reports each committed step
exactly once, so counting here is exact under retries: a duplicate input commits nothing and is
never reported.

Per step: `entered` (visits), `reached` (enrollments reaching it the first time), `sent`,
`skipped`, reactions (`delivered`, `opened`, ... counted once per message, implied ones included:
a click is also an open), `converted` / `exited` / `completed` (where the enrollment ended),
`waiting` (a gauge) and `dt#{seconds}` (a histogram of the time since the previous step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chalicelib.analytics import keys
from chalicelib.analytics.tally import Tally
from chalicelib.core.decisions import IMPLIED, MESSAGE_STATUSES, Trace
from chalicelib.core.state import ACTIVE, COMPLETED, CONVERTED, EXITED, EnrollmentState
from chalicelib.statuses import SKIPPED

REACTIONS = MESSAGE_STATUSES
ENDINGS = {CONVERTED: "converted", EXITED: "exited", COMPLETED: "completed"}


def step_committed(
    before: EnrollmentState | None,
    after: EnrollmentState,
    trace: Sequence[Trace],
    messages: Sequence[Any],
    now: datetime,
) -> Tally:
    tally = Tally()
    scope = keys.funnel_scope(after.funnel, after.version)
    was_active = before is not None and before.status == ACTIVE
    is_active = after.status == ACTIVE
    day_scope = keys.day_scope(now)

    if before is None:
        tally.add(scope, "entered")
        tally.add(day_scope, keys.day_metric(now, "enrollments"))
    if is_active and not was_active:
        tally.add(scope, "active")
    if was_active and not is_active:
        tally.add(scope, "active", -1)
    if was_active:
        assert before is not None
        tally.add(scope, keys.step_metric(before.step, "waiting"), -1)
    if is_active:
        tally.add(scope, keys.step_metric(after.step, "waiting"))

    _steps_reached(tally, scope, before, after, trace, now)
    _splits_entered(tally, scope, before, after)
    for message in messages:
        _message_created(tally, scope, message, now)
    if after.status in ENDINGS and (before is None or was_active):
        _ended(tally, scope, after, now)
    return tally


def _steps_reached(
    tally: Tally,
    scope: str,
    before: EnrollmentState | None,
    after: EnrollmentState,
    trace: Sequence[Trace],
    now: datetime,
) -> None:
    earlier = before.visits if before is not None else {}
    new = {
        step: count - earlier.get(step, 0)
        for step, count in after.visits.items()
        if count > earlier.get(step, 0)
    }
    if not new:
        return
    # Time passes only between engine calls: the first step reached in this call is the one
    # reached `now - before.step_at` after the previous step; later ones in the same call, 0.
    order = [entry.step_id for entry in trace if entry.step_id in new]
    first = order[0] if order else sorted(new)[0]
    for step, visits in new.items():
        tally.add(scope, keys.step_metric(step, "entered"), visits)
        if earlier.get(step, 0) == 0:
            tally.add(scope, keys.step_metric(step, "reached"))
        since = before.step_at if before is not None and step == first else None
        seconds = (now - since).total_seconds() if since is not None else 0.0
        tally.add(scope, keys.step_metric(step, f"dt#{duration_bucket(seconds)}"))


def _splits_entered(
    tally: Tally, scope: str, before: EnrollmentState | None, after: EnrollmentState
) -> None:
    known = before.splits if before is not None else {}
    for step, arm in after.splits.items():
        if step not in known:  # arms are sticky: counted on assignment only
            tally.add(scope, keys.split_metric(step, arm, "entered"))


def _message_created(tally: Tally, scope: str, message: Any, now: datetime) -> None:
    step, channel = message.step_id, message.channel
    if message.status == SKIPPED:
        tally.add(scope, keys.step_metric(step, "skipped"))
        return
    tally.add(scope, keys.step_metric(step, "sent"))
    tally.add(scope, keys.step_metric(step, f"sent#{channel}"))
    tally.add(keys.day_scope(now), keys.day_metric(now, f"messages#{channel}"))
    if message.template_id:
        tally.add(
            keys.TEMPLATES_SCOPE,
            keys.template_metric(message.funnel, message.template_id, channel, "sent"),
        )


def _ended(tally: Tally, scope: str, after: EnrollmentState, now: datetime) -> None:
    figure = ENDINGS[after.status]
    tally.add(scope, figure)
    tally.add(scope, keys.step_metric(after.step, figure))
    if after.status != CONVERTED:
        return
    value = after.value or 0
    tally.add(scope, "revenue", value)
    tally.add(scope, keys.step_metric(after.step, "revenue"), value)
    for step, arm in after.splits.items():
        tally.add(scope, keys.split_metric(step, arm, "converted"))
        tally.add(scope, keys.split_metric(step, arm, "revenue"), value)
    day = keys.day_scope(now)
    tally.add(day, keys.day_metric(now, "conversions"))
    tally.add(day, keys.day_metric(now, "conversion_revenue"), value)


def reaction_figures(message: Any, status: str, by: str) -> Tally:
    """What the log entry `by` added to the figures by bringing `status` to the message: its
    reactions if its history entry is the first of that status, else nothing (a replay, or
    the same status reported twice). The same answer every time the entry is handled."""
    history = list(message.status_history or ())
    first = next((entry for entry in history if entry.get("status") == status), None)
    if first is None or first.get("by") != by:
        return Tally()
    return message_status(message, status)


def message_status(
    message: Any, status: str, history: Sequence[Mapping[str, Any]] | None = None
) -> Tally:
    """A new status of a funnel's message: each reaction counted once per message (`status`'s
    first entry in the history is the one counted). `history`: the message's, if not yet on
    the record (a failure being recorded)."""
    tally = Tally()
    if not message.funnel or not message.step_id or message.funnel_version is None:
        return tally
    scope = keys.funnel_scope(message.funnel, int(message.funnel_version))
    known = list(message.status_history or ()) if history is None else list(history)
    for reaction in new_reactions(known, status):
        tally.add(scope, keys.step_metric(message.step_id, reaction))
        if message.template_id:
            metric = keys.template_metric(
                message.funnel, message.template_id, message.channel, reaction
            )
            tally.add(keys.TEMPLATES_SCOPE, metric)
    return tally


def new_reactions(history: Sequence[Mapping[str, Any]], status: str) -> list[str]:
    """`status` and the reactions it implies that no earlier entry of the history already gave
    (the history holds this status's own entry too: entries from it on are not 'earlier')."""
    if status not in REACTIONS:
        return []
    earlier: set[str] = set()
    for entry in history:
        seen = str(entry.get("status"))
        if seen == status:
            break
        earlier |= {seen, *IMPLIED.get(seen, ())}
    return [s for s in (status, *IMPLIED.get(status, ())) if s not in earlier]


def duration_bucket(seconds: float) -> int:
    """Seconds rounded down to a unit that fits the span (s < 2 min, min < 2 h, h < 2 d, else d),
    so the histogram stays small yet a 30-minute or 1-day wait lands exactly on its value."""
    s = max(0, int(seconds))
    for unit, limit in ((1, 120), (60, 7200), (3600, 172800)):
        if s < limit:
            return s - s % unit
    return s - s % 86400
