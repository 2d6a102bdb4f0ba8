"""Per-contact work of a page done on a few threads: each item's DynamoDB and provider calls
wait on the network, so a page of a hundred contacts takes about a tenth of the time.

A failure (or a kill) stops what has not started: items already in flight finish their own
calls, as they would in a process dying at that moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
WORKERS = 8  # botocore's default pool holds 10 connections per client


def each(work: Callable[[T], R], items: Iterable[T], workers: int = WORKERS) -> list[R]:
    """`work` of every item, in the items' order; the first exception is raised."""
    todo = list(items)
    if len(todo) <= 1 or workers <= 1:
        return [work(item) for item in todo]
    pool = ThreadPoolExecutor(max_workers=min(workers, len(todo)), thread_name_prefix="page")
    futures: list[Future[R]] = [pool.submit(work, item) for item in todo]
    try:
        return [future.result() for future in futures]
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
