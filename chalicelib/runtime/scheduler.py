"""Wake-ups: the Scheduler interface and its two implementations' shared vocabulary.

A wake-up asks the step runner to feed `TimerInput(token)` to one enrollment at `due_at`.
Its name is derived from the enrollment, the token and when it fires, so creating it twice is
harmless. A wake-up acts only while the enrollment still waits for that token at that due time
(`Runtime.handle_wakeup`): one that fires after the enrollment moved on, or one scheduled by an
attempt that never committed (a crash, or a lost race that decided the same token with another
due time: the time in the name keeps the two schedules apart), changes nothing.
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
    due_at: datetime  # aware UTC: the wait it ends, as the enrollment stores it
    fires_at: datetime | None = None  # when it fires, if not at `due_at` (a paused funnel's retry)

    @property
    def name(self) -> str:
        # EventBridge schedule names: 1-64 chars of [0-9A-Za-z_.-]; a digest keeps any key legal.
        # "af-" + 32 + "-" + token + "-" + 13 digits of epoch ms: 64 chars up to a 14-digit token.
        fires = round((self.fires_at or self.due_at).timestamp() * 1000)
        return f"af-{self._digest()[:32]}-{self.token}-{fires}"

    @property
    def legacy_name(self) -> str:
        """The name the previous release gave it (the token only): cancelled under both."""
        return f"af-{self._digest()[:40]}-{self.token}"

    def _digest(self) -> str:
        return hashlib.sha256(f"{self.contact_id}|{self.enrollment_key}".encode()).hexdigest()

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
