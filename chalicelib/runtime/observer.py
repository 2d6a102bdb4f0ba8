"""What the runtime tells analytics about the changes it commits.

The runtime calls the observer inside the change's transaction, before it commits: what the
observer adds to the transaction (its figures, one item) commits with the change or not at all,
so a duplicated or stale input, which commits nothing, is never counted, and a crash cannot
count a change twice or lose it. An observer that fails to add its figures must not stop the
change: the runtime logs it.
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
    def count_in(self, transaction: TransactWrite, key: str, steps: Sequence[Committed]) -> None:
        """Add the figures of steps about to commit (one, or a broadcast's chunk) to their
        transaction, as one item. `key` names the commit (a redelivered input that commits
        again could not reuse it: the enrollment's version moved)."""
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
    def count_in(self, transaction: TransactWrite, key: str, steps: Sequence[Committed]) -> None:
        pass

    def send_failed(
        self,
        transaction: TransactWrite,
        message: Message,
        history: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> None:
        pass
