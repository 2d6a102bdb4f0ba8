"""Wake-ups: the Scheduler interface and its two implementations' shared vocabulary.

A wake-up asks the step runner to feed `TimerInput(token)` to one enrollment at `due_at`.
Its name is derived from the enrollment and the token, so creating it twice is harmless, and a
wake-up that fires after the enrollment moved on carries a stale token the engine ignores.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol


@dataclass(frozen=True)
class Wakeup:
    contact_id: str
    enrollment_key: str
    token: int
    due_at: datetime  # aware UTC

    @property
    def name(self) -> str:
        # EventBridge schedule names: 1-64 chars of [0-9A-Za-z_.-]; a digest keeps any key legal.
        digest = hashlib.sha256(f"{self.contact_id}|{self.enrollment_key}".encode()).hexdigest()
        return f"af-{digest[:40]}-{self.token}"

    def payload(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "enrollment_key": self.enrollment_key,
            "token": self.token,
            "due_at": self.due_at.isoformat(),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Wakeup:
        return cls(
            contact_id=str(payload["contact_id"]),
            enrollment_key=str(payload["enrollment_key"]),
            token=int(payload["token"]),
            due_at=datetime.fromisoformat(payload["due_at"]),
        )


class Scheduler(Protocol):
    # Wake-ups due sooner than this are run inline by the caller: the scheduler cannot be
    # more precise than this anyway.
    precision: timedelta

    def schedule(self, wakeup: Wakeup) -> None: ...

    def cancel(self, wakeup: Wakeup) -> None: ...
