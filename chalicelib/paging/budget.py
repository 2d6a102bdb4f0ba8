"""How long one invocation may keep starting work: a paged job's pages, the stream worker's
contacts. Standard library only: the worker loads it with its first batch."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

LEASE_MARGIN = 5.0  # seconds a lease outlives its invocation's last possible moment


class Budget:
    """How long one invocation may keep starting pages. `reserve` is time the invocation keeps
    after the budget (to checkpoint, to return); its lease covers that too."""

    def __init__(
        self, seconds: float, reserve: float = 0.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self._deadline = clock() + seconds
        self.reserve = reserve

    @classmethod
    def for_lambda(cls, context: Any, keep: float = 0.1, at_least: float = 10.0) -> Budget:
        """The Lambda's remaining time minus a reserve (10%, at least 10 s) to checkpoint in."""
        remaining = context.get_remaining_time_in_millis() / 1000
        reserve = max(at_least, remaining * keep)
        return cls(max(1.0, remaining - reserve), reserve)

    def remaining(self) -> float:
        return self._deadline - self.clock()

    def lease_seconds(self) -> float:
        return max(0.0, self.remaining()) + self.reserve + LEASE_MARGIN
