"""Runs a paged job for one invocation: claim the lease, handle pages until the time budget is
spent, checkpointing after each page, then finish or hand over to the next invocation. Pages
are sized to what is left of the budget, from the time one item of the pass took so far.

    claim ─> [read page ─> handle ─> checkpoint (cursor + counts + state)]* ─> finish | release

A crash anywhere loses at most the page in hand: the next invocation (after the lease runs out)
reads it again from the last checkpoint, and the kind's handler recognises what it had already
done (see `Pass`). An exception is recorded on the job and retried after a pause; after a few
failures in a row the job fails, visibly, with the error.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

from chalicelib.paging.budget import Budget
from chalicelib.paging.kinds import JobKind, Pass, Work
from chalicelib.paging.store import JobStore, LeaseLost
from chalicelib.storage.models import PagedJob

log = logging.getLogger(__name__)

RETRY_AFTER = 30.0  # seconds before a failed invocation's job is tried again
GIVE_UP_AFTER = 5  # failed invocations in a row before the job fails for good
FIRST_PAGE = 10  # items in a pass's first page, before the time one item takes is known


class Runner:
    def __init__(self, store: JobStore, kinds: Mapping[str, JobKind]) -> None:
        self.store = store
        self.kinds = kinds

    def run(self, job_id: str, budget: Budget) -> PagedJob | None:
        """One invocation's share of the job; returns the job as stored afterwards."""
        owner = uuid.uuid4().hex
        job = self.store.claim(job_id, owner, budget.lease_seconds())
        if job is None:
            return self.store.get(job_id)  # finished, or another runner holds the lease
        try:
            self._pages(job, owner, budget)
        except LeaseLost:
            log.warning("job %s: lease lost (cancelled or taken over); stopped", job_id)
        except Exception as error:
            log.exception("job %s failed at %s", job_id, job.cursor)
            with suppress(LeaseLost):
                self.store.record_failure(
                    job, owner, f"{type(error).__name__}: {error}", RETRY_AFTER, GIVE_UP_AFTER
                )
        return self.store.get(job_id)

    def _pages(self, job: PagedJob, owner: str, budget: Budget) -> None:
        kind = self.kinds.get(job.kind)
        if kind is None:
            raise ValueError(f"no job kind {job.kind!r} here")
        work = Work(
            job.job_id,
            job.kind,
            job.as_of,
            dict(job.params or {}),
            dict(job.counts or {}),
            dict(job.state or {}),
        )
        passes = list(kind.passes(work))
        if job.plan is None:
            job.plan = [{"pass": p.name, "partitions": p.source.partitions(work)} for p in passes]
            job.cursor = {"pass": 0, "partition": 0, "key": None}
            work.counts = {**dict.fromkeys(kind.counts, 0), **work.counts}
            job.progress = _started({}, passes, 0, work)
        pages = 0
        while job.cursor["pass"] < len(passes):
            limit = _page_limit(job, passes, budget, first=not pages)
            if limit is None:
                self.store.release(job, owner)
                return
            self._page(job, owner, work, passes, limit, budget)
            pages += 1
        kind.finish(work)
        job.counts, job.state = work.counts, work.state
        self.store.complete(job, owner)

    def _page(
        self,
        job: PagedJob,
        owner: str,
        work: Work,
        passes: Sequence[Pass],
        limit: int,
        budget: Budget,
    ) -> None:
        cursor = dict(job.cursor)
        current = passes[cursor["pass"]]
        partitions = job.plan[cursor["pass"]]["partitions"]
        next_key = None
        if cursor["partition"] < len(partitions):
            started = budget.clock()
            work.partition = partitions[cursor["partition"]]
            page = current.source.read(work, work.partition, cursor.get("key"), limit)
            current.handle(work, page.items)
            figures = job.progress.setdefault(current.name, {"done": 0, "total": None})
            figures["done"] += len(page.items)
            if page.items:  # what one item costs, for the size of the next page
                figures["item_seconds"] = (budget.clock() - started) / len(page.items)
            next_key = page.next_key
        if next_key:
            cursor["key"] = next_key
        else:
            cursor["partition"], cursor["key"] = cursor["partition"] + 1, None
            if cursor["partition"] >= len(partitions):
                cursor["pass"], cursor["partition"] = cursor["pass"] + 1, 0
                job.progress = _started(job.progress, passes, cursor["pass"], work)
        job.cursor, job.counts, job.state = cursor, work.counts, work.state
        self.store.checkpoint(job, owner)


def _page_limit(job: PagedJob, passes: Sequence[Pass], budget: Budget, first: bool) -> int | None:
    """How many items the next page may hold to end within the budget (what an item of this
    pass took so far; a small first page while that is unknown); None when not even one item
    fits. An invocation's first page always runs, so every invocation makes progress."""
    current = passes[job.cursor["pass"]]
    per_item = (job.progress.get(current.name) or {}).get("item_seconds")
    remaining = budget.remaining()
    if not per_item:
        return min(current.page_size, FIRST_PAGE) if first or remaining > 0 else None
    fits = int(remaining / per_item)
    if fits < 1 and not first:
        return None
    return max(1, min(current.page_size, fits))


def _started(
    progress: dict[str, Any], passes: Sequence[Pass], index: int, work: Work
) -> dict[str, Any]:
    """Progress with the pass at `index` begun: its total estimated now (a later pass may
    know its total exactly from an earlier one, e.g. RFM scores the buyers it counted)."""
    if index >= len(passes):
        return progress
    current = passes[index]
    total = current.total(work) if current.total else current.source.estimate(work)
    return {**progress, current.name: {"done": 0, "total": total}}
