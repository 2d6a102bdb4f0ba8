"""The engine's EnrollmentState as its enrollment item keeps it: what the item holds at its top
level (its ids, funnel, version, start, status, step, wake-up token) is stored there only, and
filled back in when the state is read. A step commit costs a write unit per KB of the item, and
these copies took about a fifth of a typical one (ids of 36 characters).

Items written before keep their full `state`, which is read as it is.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.state import EnrollmentState, to_ms
from chalicelib.storage.models import Enrollment

ON_THE_ITEM = (
    "enrollment_id",
    "funnel",
    "version",
    "contact_id",
    "started_at",
    "status",
    "step",
    "token",
)


def stored(state: EnrollmentState) -> dict[str, Any]:
    """The `state` attribute for this state (the item's own attributes carry the rest)."""
    return {key: value for key, value in state.to_dict().items() if key not in ON_THE_ITEM}


def state_of(row: Enrollment) -> EnrollmentState:
    """The state the item holds (its top-level attributes as the engine's fields)."""
    saved = dict(row.state or {})
    on_item: dict[str, Any] = {
        "enrollment_id": row.enrollment_id,
        "funnel": row.funnel,
        "version": int(row.funnel_version),
        # the contact it started for (a merge moves the item, never renames the enrollment)
        "contact_id": row.enrollment_id.rsplit(":", 2)[0],
        "started_at": to_ms(row.started_at),
        "status": row.status,
        "step": row.current_step,
        "token": int(row.wake_token or 0),
    }
    return EnrollmentState.from_dict({**on_item, **saved})
