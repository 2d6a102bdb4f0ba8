"""What the runtime tells analytics after each committed step.

The runtime calls the observer only after the step's transaction committed, so a duplicated or
stale input (which commits nothing) is never counted. An observer must not raise: analytics
failing must never stop a funnel.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

from pynamodb.transactions import TransactWrite

from chalicelib.core.decisions import Trace
from chalicelib.core.state import EnrollmentState
from chalicelib.statuses import MessageStatusUpdate
from chalicelib.storage.models import Message


class Committed(NamedTuple):
    """One committed step, as `step_committed` takes it."""

    before: EnrollmentState | None
    after: EnrollmentState
    trace: Sequence[Trace]
    messages: Sequence[Message]
    now: datetime


class RuntimeObserver(Protocol):
    def step_committed(
        self,
        before: EnrollmentState | None,  # None when the enrollment just started
        after: EnrollmentState,
        trace: Sequence[Trace],  # what the engine did, step by step (enter, send, goal, exit...)
        messages: Sequence[Message],  # the message records this step created
        now: datetime,
    ) -> None: ...

    def steps_committed(self, steps: Sequence[Committed]) -> None:
        """Many steps committed together (a broadcast's page): told at once, counted at once."""
        ...

    def count_in(self, transaction: TransactWrite, steps: Sequence[Committed], room: int) -> bool:
        """Add the figures of steps about to commit to their transaction, if they fit in `room`
        items: then they count exactly when, and only when, the steps commit. False: nothing
        added (the runtime reports them with `steps_committed` after the commit)."""
        ...

    def message_status(self, message: Message, update: MessageStatusUpdate) -> None:
        """A new status (delivered, opened, clicked...) of a message a funnel sent."""


class NoObserver:
    def step_committed(
        self,
        before: EnrollmentState | None,
        after: EnrollmentState,
        trace: Sequence[Trace],
        messages: Sequence[Message],
        now: datetime,
    ) -> None:
        pass

    def steps_committed(self, steps: Sequence[Committed]) -> None:
        pass

    def count_in(self, transaction: TransactWrite, steps: Sequence[Committed], room: int) -> bool:
        return True  # nothing to count

    def message_status(self, message: Message, update: MessageStatusUpdate) -> None:
        pass
