"""A page's per-contact work on threads: results in order, and a failure stops what has not
started (as a process dying then would)."""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib.runtime.parallel import each


def test_results_come_back_in_the_items_order() -> None:
    def slow_square(n: int) -> int:
        time.sleep(0.001 * (10 - n))  # the first items finish last
        return n * n

    assert each(slow_square, range(10), workers=4) == [n * n for n in range(10)]
    assert each(slow_square, [3]) == [9] and each(slow_square, []) == []


def test_a_failure_stops_the_items_not_started_and_is_raised() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        if n == 2:
            raise KeyboardInterrupt("killed")  # a BaseException, like a kill
        time.sleep(0.05)
        return n

    with pytest.raises(KeyboardInterrupt):
        each(work, range(100), workers=2)
    assert len(started) < 50  # the rest never began
