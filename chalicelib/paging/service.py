"""Starting, continuing and reading paged jobs: what entry points (chalicelib/jobs.py, the admin
routes, the local loop) call, given the job kinds they built."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.paging.budget import Budget
from chalicelib.paging.kinds import JobKind
from chalicelib.paging.runner import Runner
from chalicelib.paging.store import JobStore
from chalicelib.paging.view import describe
from chalicelib.storage.models import PagedJob


class PagedJobs:
    def __init__(
        self,
        kinds: Mapping[str, JobKind],
        store: JobStore | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.kinds = kinds  # may build each kind on first use (chalicelib/jobs.Kinds)
        self.store = store or JobStore()
        self.runner = Runner(self.store, self.kinds)
        self.clock = clock or self.store.now  # business time: when a job's `not_before` is due

    def start(
        self,
        kind: str,
        as_of: datetime,
        params: dict[str, Any] | None = None,
        *,
        job_id: str | None = None,
        supersede: bool = False,
        exclusive: bool = True,
        not_before: datetime | None = None,
    ) -> tuple[PagedJob, bool]:
        """Queue a job of `kind`; (job, created). One job of a kind is open at a time: while
        one is queued or running it is returned instead, unless `supersede` cancels it first
        (a segment saved again must be back-filled with the new definition). A kind whose jobs
        are independent of each other (broadcasts) starts with `exclusive=False`. A job with
        `not_before` stays queued until then (business time)."""
        if kind not in self.kinds:
            raise ValueError(f"unknown job kind {kind!r}")
        if exclusive:
            open_jobs = self.store.active(kind)
            if open_jobs and not supersede:
                return open_jobs[0], False
            for job in open_jobs:
                self.store.cancel(job.job_id)
        job_id = job_id or f"{kind}-{self.store.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        return self.store.create(job_id, kind, as_of, params, not_before)

    def start_periodic(self, kind: str, as_of: datetime, every: timedelta) -> PagedJob:
        """This period's job (named after the period, so a repeated schedule makes none), or
        the previous period's if it is still running (it carries on; this period is skipped)."""
        period = _floor(as_of, every)
        job, _ = self.start(kind, as_of, job_id=f"{kind}-{period:%Y%m%dT%H%M}")
        return job

    def run(self, job_id: str, budget: Budget) -> PagedJob | None:
        job = self.store.get(job_id)
        if job is not None and not self.due(job):
            return job
        return self.runner.run(job_id, budget)

    def due(self, job: PagedJob) -> bool:
        return job.not_before is None or job.not_before <= self.clock()

    def continue_open(self, budget: Budget) -> list[PagedJob]:
        """The tick: every queued or running job that is due, oldest first, while the budget
        lasts."""
        ran = []
        for job in self.store.active():
            if budget.remaining() <= 0:
                break
            if not self.due(job):
                continue
            after = self.runner.run(job.job_id, budget)
            if after is not None:
                ran.append(after)
        return ran

    def get(self, job_id: str) -> dict[str, Any] | None:
        job = self.store.get(job_id)
        return describe(job) if job is not None else None

    def recent(self, per_kind: int = 5) -> list[dict[str, Any]]:
        """The newest jobs of each kind (so a sweeper every 5 minutes hides no daily RFM run),
        newest first."""
        jobs = [job for kind in self.kinds for job in self.store.recent(kind, per_kind)]
        jobs.sort(key=lambda job: job.created_at, reverse=True)
        return [describe(job) for job in jobs]

    def cancel(self, job_id: str) -> bool:
        return self.store.cancel(job_id)


def _floor(moment: datetime, every: timedelta) -> datetime:
    seconds = int(every.total_seconds())
    epoch = int(moment.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)
