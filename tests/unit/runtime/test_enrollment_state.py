"""The enrollment item keeps its ids, funnel, version, start, status, step and token once, at
its top level: the `state` attribute leaves them out, and reading fills them back in."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from chalicelib.core.state import EnrollmentState
from chalicelib.storage import enrollment_state
from chalicelib.storage.models import Enrollment

STARTED = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)


def the_state(contact_id: str) -> EnrollmentState:
    return EnrollmentState(
        enrollment_id=f"{contact_id}:abandoned_cart_reminders:2",
        funnel="abandoned_cart_reminders",
        version=3,
        contact_id=contact_id,
        started_at=STARTED.replace(microsecond=123000),  # the engine keeps milliseconds
        step="reminder_wait",
        step_at=datetime(2026, 11, 23, 10, tzinfo=UTC),
        token=4,
        wake_at=datetime(2026, 11, 24, 10, tzinfo=UTC),
        wake_kind="wait",
        visits={"reminder_1": 1, "reminder_wait": 1},
        splits={"subject_test": "b"},
        trigger_event="cart_updated",
        trigger={"total": 70.0},
    )


def the_row(state: EnrollmentState) -> Enrollment:
    """As the runner commits it (chalicelib.runtime.runner: Runtime._stage)."""
    return Enrollment(
        state.contact_id,
        "abandoned_cart_reminders#00002",
        enrollment_id=state.enrollment_id,
        funnel=state.funnel,
        funnel_version=state.version,
        started_at=STARTED,
        status=state.status,
        current_step=state.step,
        wake_token=state.token,
        state=enrollment_state.stored(state),
    )


def test_the_state_reads_back_as_it_was_stored_without_its_copies() -> None:
    contact_id = str(uuid.uuid4())
    state = the_state(contact_id)
    row = the_row(state)

    assert enrollment_state.state_of(row) == state
    stored = json.dumps(row.state)
    assert contact_id not in stored and "abandoned_cart_reminders" not in stored
    full = json.dumps(state.to_dict())
    assert len(stored) < len(full) - 200  # of about 600 bytes


def test_a_moved_enrollment_keeps_the_contact_it_started_for() -> None:
    """A merge puts the item under the survivor; the engine's contact id (a split's bucket) is
    still the one the enrollment started for, as when the state carried it."""
    state = the_state("absorbed")
    row = the_row(state)
    row.contact_id = "survivor"
    assert enrollment_state.state_of(row).contact_id == "absorbed"


def test_an_item_written_before_reads_its_full_state() -> None:
    state = the_state("c-old")
    row = the_row(state)
    row.state = state.to_dict()  # the previous release stored every field
    assert enrollment_state.state_of(row) == state
