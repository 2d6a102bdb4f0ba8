"""The EventBridge Scheduler adapter against the real API model (Stubber) and moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import botocore.session
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib.runtime.eventbridge import RETRY_POLICY, EventBridgeScheduler
from chalicelib.runtime.scheduler import Wakeup

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:autofunnel-prod-step_runner"
ROLE = "arn:aws:iam::123456789012:role/autofunnel-prod-scheduler"
DLQ = "arn:aws:sqs:us-east-1:123456789012:autofunnel-prod-wakeup-dlq"
WAKEUP = Wakeup(
    "c1", "cart#2026-11-23T12:00:00#e1", 3, datetime(2026, 11, 23, 12, 30, 15, 500, UTC)
)


def client():  # type: ignore[no-untyped-def]
    return botocore.session.get_session().create_client(
        "scheduler", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def adapter(scheduler_client) -> EventBridgeScheduler:  # type: ignore[no-untyped-def]
    return EventBridgeScheduler(scheduler_client, "autofunnel-prod", TARGET, ROLE, DLQ)


def test_create_schedule_request_matches_the_api_model() -> None:
    scheduler_client = client()
    with Stubber(scheduler_client) as stub:
        stub.add_response(
            "create_schedule",
            {"ScheduleArn": "arn:aws:scheduler:us-east-1:123456789012:schedule/g/n"},
            {
                "Name": WAKEUP.name,
                "GroupName": "autofunnel-prod",
                "ScheduleExpression": "at(2026-11-23T12:30:15)",
                "ScheduleExpressionTimezone": "UTC",
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "ActionAfterCompletion": "DELETE",
                "State": "ENABLED",
                "Target": {
                    "Arn": TARGET,
                    "RoleArn": ROLE,
                    "RetryPolicy": RETRY_POLICY,
                    "DeadLetterConfig": {"Arn": DLQ},
                    "Input": json.dumps(WAKEUP.payload()),
                },
                "ClientToken": WAKEUP.name,
            },
        )
        adapter(scheduler_client).schedule(WAKEUP)
        stub.assert_no_pending_responses()


def test_a_repeated_create_and_a_late_delete_are_harmless() -> None:
    scheduler_client = client()
    with Stubber(scheduler_client) as stub:
        stub.add_client_error("create_schedule", "ConflictException", http_status_code=409)
        for name in (WAKEUP.name, WAKEUP.legacy_name):  # the previous release's name too
            stub.add_client_error(
                "delete_schedule",
                "ResourceNotFoundException",
                http_status_code=404,
                expected_params={"Name": name, "GroupName": "autofunnel-prod"},
            )
        adapter(scheduler_client).schedule(WAKEUP)
        adapter(scheduler_client).cancel(WAKEUP)
        stub.assert_no_pending_responses()


def test_other_errors_surface() -> None:
    scheduler_client = client()
    with Stubber(scheduler_client) as stub:
        stub.add_client_error("create_schedule", "ThrottlingException", http_status_code=400)
        with pytest.raises(scheduler_client.exceptions.ClientError):
            adapter(scheduler_client).schedule(WAKEUP)


def test_schedule_names_are_legal_and_stable() -> None:
    longest = Wakeup("c1", WAKEUP.enrollment_key, 10**14 - 1, datetime(2286, 11, 20, tzinfo=UTC))
    for name in (WAKEUP.name, WAKEUP.legacy_name, longest.name):
        assert 1 <= len(name) <= 64
        assert name.replace("-", "").isalnum()
    assert Wakeup("c1", WAKEUP.enrollment_key, 3, WAKEUP.due_at).name == WAKEUP.name
    assert Wakeup("c1", WAKEUP.enrollment_key, 4, WAKEUP.due_at).name != WAKEUP.name
    assert Wakeup.from_payload(WAKEUP.payload()) == WAKEUP


def test_two_racers_with_one_token_and_two_due_times_get_two_schedules() -> None:
    """Two inputs racing from one state decide the same token; their due times may differ by a
    millisecond. Neither schedule may take the other's place (only the winner's due time acts:
    Runtime.handle_wakeup)."""
    other = Wakeup("c1", WAKEUP.enrollment_key, 3, WAKEUP.due_at + timedelta(milliseconds=1))
    assert other.name != WAKEUP.name
    retry = Wakeup(
        "c1", WAKEUP.enrollment_key, 3, WAKEUP.due_at, fires_at=WAKEUP.due_at + timedelta(minutes=5)
    )
    assert retry.name not in (WAKEUP.name, other.name)
    assert retry.payload() == WAKEUP.payload()  # due when the enrollment says, fired later


@mock_aws
def test_schedule_and_cancel_round_trip_on_moto() -> None:
    scheduler_client = client()
    scheduler_client.create_schedule_group(Name="autofunnel-prod")
    scheduler = adapter(scheduler_client)
    scheduler.schedule(WAKEUP)
    scheduler.schedule(WAKEUP)  # a retry of the same decision
    stored = scheduler_client.get_schedule(Name=WAKEUP.name, GroupName="autofunnel-prod")
    assert stored["ScheduleExpression"] == "at(2026-11-23T12:30:15)"
    assert json.loads(stored["Target"]["Input"]) == WAKEUP.payload()
    assert stored["ActionAfterCompletion"] == "DELETE"
    scheduler.cancel(WAKEUP)
    scheduler.cancel(WAKEUP)
    with pytest.raises(scheduler_client.exceptions.ResourceNotFoundException):
        scheduler_client.get_schedule(Name=WAKEUP.name, GroupName="autofunnel-prod")


@mock_aws
def test_a_wakeup_the_previous_release_scheduled_is_cancelled_under_its_older_name() -> None:
    scheduler_client = client()
    scheduler_client.create_schedule_group(Name="autofunnel-prod")
    scheduler_client.create_schedule(  # as the previous release named it (the token only)
        Name=WAKEUP.legacy_name,
        GroupName="autofunnel-prod",
        ScheduleExpression="at(2026-11-23T12:30:15)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": TARGET, "RoleArn": ROLE, "Input": json.dumps(WAKEUP.payload())},
    )
    adapter(scheduler_client).cancel(WAKEUP)
    with pytest.raises(scheduler_client.exceptions.ResourceNotFoundException):
        scheduler_client.get_schedule(Name=WAKEUP.legacy_name, GroupName="autofunnel-prod")
