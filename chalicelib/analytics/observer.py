"""The runtime's observer: committed enrollment steps and new message statuses become counter
increments (see step_figures for what each figure means)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chalicelib.analytics import counters, step_figures
from chalicelib.core.decisions import Trace
from chalicelib.core.state import EnrollmentState
from chalicelib.statuses import MessageStatusUpdate
from chalicelib.storage.models import Message


class AnalyticsObserver:
    def step_committed(
        self,
        before: EnrollmentState | None,
        after: EnrollmentState,
        trace: Sequence[Trace],
        messages: Sequence[Message],
        now: datetime,
    ) -> None:
        counters.write(step_figures.step_committed(before, after, trace, messages, now))

    def message_status(self, message: Message, update: MessageStatusUpdate) -> None:
        counters.write(step_figures.message_status(message, update.status))
