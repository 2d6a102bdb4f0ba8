"""The runtime's observer: committed enrollment steps (one, or a broadcast's chunk) and sends
that failed for good put their figures (see step_figures) into the change's own transaction, as
a tally the stream worker folds into the counters (chalicelib.analytics.fold)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pynamodb.transactions import TransactWrite

from chalicelib.analytics import step_figures
from chalicelib.analytics.fold import Ledger
from chalicelib.analytics.tally import Tally
from chalicelib.runtime.observer import Committed
from chalicelib.storage.models import Message

FAILED = "failed"


class AnalyticsObserver:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def count_in(self, transaction: TransactWrite, key: str, steps: Sequence[Committed]) -> None:
        """One tally for all of them (a page of a broadcast: one item, not one per step)."""
        tally = Tally()
        for step in steps:
            tally.update(step_figures.step_committed(*step))
        if steps:
            self.ledger.put_in(transaction, key, tally, steps[0].now)

    def send_failed(
        self,
        transaction: TransactWrite,
        message: Message,
        history: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> None:
        tally = step_figures.message_status(message, FAILED, history)
        self.ledger.put_in(transaction, f"failed:{message.message_id}", tally, now)
