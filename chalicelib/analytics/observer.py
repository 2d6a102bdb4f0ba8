"""The runtime's observer: a committed enrollment step, or a send that failed for good, puts its
figures (see step_figures) into the change's own transaction, as a tally the stream worker
folds into the counters (chalicelib.analytics.fold)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pynamodb.transactions import TransactWrite

from chalicelib.analytics import step_figures
from chalicelib.analytics.fold import Ledger
from chalicelib.core.decisions import Trace
from chalicelib.core.state import EnrollmentState
from chalicelib.storage.models import Message

FAILED = "failed"


class AnalyticsObserver:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def step_committed(
        self,
        transaction: TransactWrite,
        key: str,
        before: EnrollmentState | None,
        after: EnrollmentState,
        trace: Sequence[Trace],
        messages: Sequence[Message],
        now: datetime,
    ) -> None:
        tally = step_figures.step_committed(before, after, trace, messages, now)
        self.ledger.put_in(transaction, f"step:{key}", tally, now)

    def send_failed(
        self,
        transaction: TransactWrite,
        message: Message,
        history: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> None:
        tally = step_figures.message_status(message, FAILED, history)
        self.ledger.put_in(transaction, f"failed:{message.message_id}", tally, now)
