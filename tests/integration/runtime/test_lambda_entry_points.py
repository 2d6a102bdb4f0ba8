"""The Lambda entry points as Chalice invokes them: the step runner and the scheduled jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

from app import app
from autofunnel.timetravel import Stack
from chalicelib import jobs
from chalicelib.config import Settings
from chalicelib.runtime.scheduler import Wakeup
from chalicelib.storage.models import Enrollment
from chalicelib.storage.models import Wakeup as WakeupRow

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: outside quiet hours


@pytest.fixture
def stack(settings: Settings) -> Stack:
    stack = Stack.build(NOW)  # the application the Lambda entry points use
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
    # ...from an enrollment the previous release committed, in by_wake (a wait scheduled
    # before its commit is not: tests/integration/runtime/test_exactly_once.py)
    (enrollment,) = list(Enrollment.query("ann"))
    enrollment.update(actions=[Enrollment.wake_shard.set("w0")])
    with Client(app, stage_name="local") as client:
        swept = client.lambda_.invoke("sweeper", scheduled(client))
        dated = client.lambda_.invoke("date_triggers", scheduled(client))
        for _ in range(100):  # what a test Lambda's 3 s did not finish, the tick continues
            if not client.lambda_.invoke("job_runner", scheduled(client)).payload["jobs"]:
                break
    assert swept.payload["kind"] == "sweeper" and dated.payload["kind"] == "date_triggers"
    assert swept.payload["id"] == f"sweeper-{NOW + timedelta(minutes=40):%Y%m%dT%H%M}"
    views = {view["kind"]: view for view in jobs.paged_jobs().recent()}
    assert views["sweeper"]["status"] == views["date_triggers"]["status"] == "done"
    assert views["sweeper"]["counts"] == {
        "overdue_wakeups": 1,
        "recovered_messages": 0,
        "expired_onsite": 0,
    }
    assert views["date_triggers"]["counts"] == {"checked": 0, "entered": 0}
    assert [step for _, step, _ in stack.outbox("ann")] == ["reminder_1"]
    with Client(app, stage_name="local") as client:  # the schedule fired twice: one job
        again = client.lambda_.invoke("sweeper", scheduled(client))
    assert again.payload["id"] == swept.payload["id"] and again.payload["status"] == "done"


def scheduled(client: Client) -> dict[str, object]:
    return client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
