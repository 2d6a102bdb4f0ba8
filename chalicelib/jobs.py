"""The periodic jobs, one definition for both places they run: `@app.schedule` Lambdas on AWS
and the local scheduler loop of `make run`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import wiring


@dataclass(frozen=True)
class Job:
    name: str
    minutes: int
    run: Callable[[], dict[str, Any]]


def sweep() -> dict[str, Any]:
    """Repairs what a crash left undone (overdue wake-ups, interrupted sends) and drops on-site
    messages nobody saw in time."""
    from chalicelib.onsite import inbox
    from chalicelib.tracking import message_status

    done = wiring.runtime().sweep()
    done["expired_onsite"] = inbox.expire_due(wiring.clock()(), message_status.record)
    return done


def date_triggers() -> dict[str, Any]:
    """Birthdays, renewals and other date-triggered funnels."""
    return {"entered": wiring.runtime().run_date_triggers()}


def rfm_scoring() -> dict[str, Any]:
    """Re-scores every buyer against today's RFM quintiles (segments, LTV, funnel triggers)."""
    from chalicelib.analytics import rfm

    wiring.storage()
    result = rfm.run(wiring.clock()())
    return {"buyers": result.buyers, "changed": result.changed}


def segment_rechecks() -> dict[str, Any]:
    """Saved segments whose `within` windows closed: membership re-checked for those contacts."""
    from chalicelib.analytics import segments as saved_segments

    wiring.storage()
    return {"rechecked": saved_segments.recheck_due(wiring.clock()())}


SWEEPER = Job("sweeper", 5, sweep)
DATE_TRIGGERS = Job("date_triggers", 60, date_triggers)
RFM_SCORING = Job("rfm_scoring", 24 * 60, rfm_scoring)
SEGMENT_RECHECKS = Job("segment_rechecks", 15, segment_rechecks)
ALL = (SWEEPER, DATE_TRIGGERS, RFM_SCORING, SEGMENT_RECHECKS)
