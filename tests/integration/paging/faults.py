"""Kill an invocation at its N-th DynamoDB call, at the botocore layer, like a Lambda timeout
or a crash would: `Killed` is a BaseException, so no `except Exception` in the code under test
gets to record or clean up anything."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Killed(BaseException):
    """The invocation died here (not an error the code may catch)."""


class CallCounter:
    def __init__(self) -> None:
        self.calls = 0
        self.kill_at: int | None = None

    @contextmanager
    def killing_at(self, call: int | None) -> Iterator[None]:
        """Kill at the `call`-th DynamoDB call from now (None: never)."""
        self.kill_at = None if call is None else self.calls + call
        try:
            yield
        finally:
            self.kill_at = None
