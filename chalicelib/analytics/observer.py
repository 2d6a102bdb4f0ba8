"""The runtime's observer: a committed enrollment step's figures (see step_figures), written on
the enrollment by its commit and counted off the enrollments' stream (chalicelib.analytics.
step_tallies); a send that failed for good puts its tally into the failure's transaction, which
the events stream worker folds into the counters (chalicelib.analytics.fold)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pynamodb.transactions import TransactWrite

from chalicelib.analytics import keys, step_figures, step_tallies
from chalicelib.analytics.fold import Ledger
from chalicelib.runtime.observer import Committed
from chalicelib.storage.models import Message

FAILED = "failed"


class AnalyticsObserver:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def figures(self, step: Committed) -> dict[str, Any] | None:
        own = keys.funnel_scope(step.after.funnel, step.after.version)
        return step_tallies.encode(step_figures.step_committed(*step), own)

    def send_failed(
        self,
        transaction: TransactWrite,
        message: Message,
        history: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> None:
        tally = step_figures.message_status(message, FAILED, history)
        self.ledger.put_in(transaction, f"failed:{message.message_id}", tally, now)
