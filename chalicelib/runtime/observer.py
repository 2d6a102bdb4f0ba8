"""What the runtime tells analytics about the changes it commits.

A step's figures are written on the enrollment by the commit itself: what the observer returns
for a step about to commit is stored with it (`Enrollment.figures`) and counted off the
enrollments' stream (chalicelib.analytics.step_tallies), so a duplicated or stale input, which
commits nothing, is never counted, and a crash cannot count a change twice or lose it. A send
that fails for good is counted inside the failure's transaction. An observer that fails must not
stop the change: the runtime logs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from pynamodb.transactions import TransactWrite

from chalicelib.core.decisions import Trace
from chalicelib.core.state import EnrollmentState
from chalicelib.storage.models import Message


class Committed(NamedTuple):
    """One step about to commit."""

    before: EnrollmentState | None  # None when the enrollment just started
    after: EnrollmentState
    trace: Sequence[Trace]  # what the engine did, step by step (enter, send, goal, exit...)
    messages: Sequence[Message]  # the message records this step creates
    now: datetime


class RuntimeObserver(Protocol):
    def figures(self, step: Committed) -> dict[str, Any] | None:
        """What a step about to commit adds to the counters, as its enrollment keeps it (None:
        nothing)."""
        ...

    def send_failed(
        self,
        transaction: TransactWrite,
        message: Message,
        history: Sequence[Mapping[str, Any]],  # the message's, with the failure
        now: datetime,
    ) -> None:
        """A send failed for good at dispatch (the provider refused it, or it kept being
        interrupted): it counts like a provider's `failed`."""


class NoObserver:
    def figures(self, step: Committed) -> dict[str, Any] | None:
        return None

    def send_failed(
        self,
        transaction: TransactWrite,
        message: Message,
        history: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> None:
        pass
