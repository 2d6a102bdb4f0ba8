"""The Lambda entry points as Chalice invokes them: the step runner and the scheduled jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

from app import app
from autofunnel.timetravel import Stack
from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.runtime.scheduler import Wakeup
from chalicelib.storage.models import Enrollment
from chalicelib.storage.models import Wakeup as WakeupRow

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: outside quiet hours


@pytest.fixture
def stack(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Stack:
    stack = Stack.build(NOW)
    monkeypatch.setattr(wiring, "runtime", lambda: stack.runtime)
    stack.publish("abandoned_cart.yaml")
    stack.contact("ann", email="ann@example.com", first_name="Ann")
    stack.event(
        "ann",
        "cart_updated",
        items_count=1,
        total=70.0,
        currency="EUR",
        cart_url="https://shop.example/cart/1",
        items=[],
    )
    return stack


def test_the_step_runner_takes_a_scheduled_wakeup(stack: Stack) -> None:
    (row,) = list(WakeupRow.by_due.query("due"))
    stack.clock.now = Wakeup.from_payload(row.payload).due_at
    with Client(app, stage_name="local") as client:
        result = client.lambda_.invoke("step_runner", row.payload)
    assert result.payload == {"status": "done"}
    (enrollment,) = list(Enrollment.query("ann"))
    assert enrollment.current_step == "wait_1d"


def test_scheduled_jobs_run_and_report(stack: Stack) -> None:
    stack.clock.now = NOW + timedelta(minutes=40)  # the wake-up at +30 m was lost
    WakeupRow(next(iter(WakeupRow.by_due.query("due"))).name).delete()
    with Client(app, stage_name="local") as client:
        swept = client.lambda_.invoke(
            "sweeper",
            client.events.generate_cw_event(
                source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
            ),
        )
        dated = client.lambda_.invoke(
            "date_triggers",
            client.events.generate_cw_event(
                source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
            ),
        )
    assert swept.payload == {"overdue_wakeups": 1, "recovered_messages": 0, "expired_onsite": 0}
    assert dated.payload == {"entered": 0}
    assert [step for _, step, _ in stack.outbox("ann")] == ["reminder_1"]
