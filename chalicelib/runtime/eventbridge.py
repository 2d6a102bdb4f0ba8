"""Wake-ups on AWS: one one-time EventBridge Scheduler schedule per pending wake-up.

The schedule targets the step-runner Lambda with the wake-up as its input, deletes itself after
firing, retries with the configured policy and sends what it cannot deliver to the SQS
dead-letter queue from infra/. Schedules fire within the minute (60 s precision).
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, timedelta
from typing import Any

from chalicelib.runtime.scheduler import Wakeup

RETRY_POLICY = {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}


class EventBridgeScheduler:
    precision = timedelta(minutes=1)

    def __init__(
        self, client: Any, group: str, target_arn: str, role_arn: str, dead_letter_arn: str
    ) -> None:
        self._client = client
        self._group = group
        self._target = {
            "Arn": target_arn,
            "RoleArn": role_arn,
            "RetryPolicy": RETRY_POLICY,
            "DeadLetterConfig": {"Arn": dead_letter_arn},
        }

    def schedule(self, wakeup: Wakeup) -> None:
        due = (wakeup.fires_at or wakeup.due_at).astimezone(UTC).replace(tzinfo=None, microsecond=0)
        # A ConflictException means this very wake-up was scheduled before (names are derived).
        with contextlib.suppress(self._client.exceptions.ConflictException):
            self._client.create_schedule(
                Name=wakeup.name,
                GroupName=self._group,
                ScheduleExpression=f"at({due.isoformat()})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                State="ENABLED",
                Target={**self._target, "Input": json.dumps(wakeup.payload())},
                ClientToken=wakeup.name,
            )

    def cancel(self, wakeup: Wakeup) -> None:
        # Not found: it already fired (and deleted itself) or was never created. A wake-up the
        # previous release scheduled has its older name (the token only).
        for name in (wakeup.name, wakeup.legacy_name):
            with contextlib.suppress(self._client.exceptions.ResourceNotFoundException):
                self._client.delete_schedule(Name=name, GroupName=self._group)
