"""The runtime's observer: committed enrollment steps and new message statuses become counter
increments (see step_figures for what each figure means)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pynamodb.transactions import TransactWrite

from chalicelib.analytics import counters, step_figures
from chalicelib.analytics.tally import Tally
from chalicelib.core.decisions import Trace
from chalicelib.core.state import EnrollmentState
from chalicelib.runtime.observer import Committed
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

    def steps_committed(self, steps: Sequence[Committed]) -> None:
        """One ADD per counter for all of them (a page of a broadcast: ~15 writes, not ~1,000)."""
        counters.write(_folded(steps))

    def count_in(self, transaction: TransactWrite, steps: Sequence[Committed], room: int) -> bool:
        tally = _folded(steps)
        if len(list(tally.items())) > room:
            return False
        counters.write_in(transaction, tally)
        return True

    def message_status(self, message: Message, update: MessageStatusUpdate) -> None:
        counters.write(step_figures.message_status(message, update.status))


def _folded(steps: Sequence[Committed]) -> Tally:
    tally = Tally()
    for step in steps:
        tally.update(step_figures.step_committed(*step))
    return tally
