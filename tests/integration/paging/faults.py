"""Kill an invocation at a DynamoDB call, at the botocore layer, like a Lambda timeout or a
crash would: `Killed` is a BaseException, so no `except Exception` in the code under test gets
to record or clean up anything."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from chalicelib.channels.base import OutgoingMessage, SendResult


class Killed(BaseException):
    """The invocation died here (not an error the code may catch)."""


class CallCounter:
    def __init__(self) -> None:
        self.calls = 0
        self.job_writes = 0  # writes to job items: the claim, checkpoints, the finish
        self._kill_at: int | None = None
        self._kill_after_job_write: int | None = None

    def should_kill(self) -> bool:
        due = (self._kill_at is not None and self.calls >= self._kill_at) or (
            self._kill_after_job_write is not None and self.job_writes >= self._kill_after_job_write
        )
        if due:
            self._kill_at = self._kill_after_job_write = None
        return due

    @contextmanager
    def killing_at(self, call: int | None) -> Iterator[None]:
        """Kill at the `call`-th DynamoDB call from now (None: never)."""
        self._kill_at = None if call is None else self.calls + call
        try:
            yield
        finally:
            self._kill_at = None

    @contextmanager
    def killing_after_job_writes(self, writes: int) -> Iterator[None]:
        """Kill at the first call after the `writes`-th write to a job item from now: with 2,
        right after the first checkpoint (the claim is the first write), between two pages."""
        self._kill_after_job_write = self.job_writes + writes
        try:
            yield
        finally:
            self._kill_after_job_write = None


class CountingProvider:
    """A channel that counts every send it takes: what a person would receive."""

    name = "provider"

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    def send(self, message: OutgoingMessage) -> SendResult:
        self.sent[message.message_id] += 1
        return SendResult(provider_id=f"p-{message.message_id}")
