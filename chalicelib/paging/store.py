"""The job items (the `jobs` table): created once, claimed under a lease, checkpointed, finished.

Every write is conditional. A claim takes the lease only when nobody holds it (or the holder's
lease ran out: it was killed); every later write of that invocation requires it to still hold
the lease and the job to still be running, so a runner that lost its lease (it hung past it, or
the job was cancelled) cannot overwrite the checkpoint of the one that took over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.storage.models import PagedJob

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
OPEN = (QUEUED, RUNNING)
ACTIVE = "active"
KEEP_FINISHED = timedelta(days=30)  # finished jobs expire (TTL) after this


class LeaseLost(Exception):
    """Another runner holds the job now, or it was cancelled: stop without writing."""


class JobStore:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.wall = wall  # wall-clock seconds: leases and timestamps, never the funnel clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall(), UTC)

    # --- creating and reading -------------------------------------------------------------

    def create(
        self,
        job_id: str,
        kind: str,
        as_of: datetime,
        params: dict[str, Any] | None = None,
        not_before: datetime | None = None,
    ) -> tuple[PagedJob, bool]:
        """The job, created queued unless one with this id exists; (job, created)."""
        now = self.now()
        job = PagedJob(
            job_id,
            kind=kind,
            status=QUEUED,
            active=ACTIVE,
            params=params or {},
            as_of=as_of,
            not_before=not_before,
            created_at=now,
            updated_at=now,
        )
        try:
            job.save(condition=PagedJob.job_id.does_not_exist())
            return job, True
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
        existing = self.get(job_id)
        assert existing is not None
        return existing, False

    def get(self, job_id: str) -> PagedJob | None:
        try:
            return PagedJob.get(job_id, consistent_read=True)
        except PagedJob.DoesNotExist:
            return None

    def active(self, kind: str | None = None) -> list[PagedJob]:
        """Queued and running jobs, oldest first (a sparse index: a handful of rows)."""
        ids = [row.job_id for row in PagedJob.by_active.query(ACTIVE)]
        jobs = [job for job in map(self.get, ids) if job is not None and job.status in OPEN]
        return [job for job in jobs if kind is None or job.kind == kind]

    def recent(self, kind: str, limit: int = 10) -> list[PagedJob]:
        rows = PagedJob.by_kind.query(kind, scan_index_forward=False, limit=limit)
        ids = [row.job_id for row in rows]
        found = {job.job_id: job for job in PagedJob.batch_get(ids)} if ids else {}
        return [found[job_id] for job_id in ids if job_id in found]

    # --- one invocation's writes ----------------------------------------------------------

    def claim(self, job_id: str, owner: str, lease_seconds: float) -> PagedJob | None:
        """Take the lease; None when the job is finished or another runner holds it."""
        job = PagedJob(job_id)
        wall = self.wall()
        free = PagedJob.lease_until.does_not_exist() | (PagedJob.lease_until < wall)
        try:
            job.update(
                actions=[
                    PagedJob.status.set(RUNNING),
                    PagedJob.lease_owner.set(owner),
                    PagedJob.lease_until.set(wall + lease_seconds),
                    PagedJob.invocations.add(1),
                    PagedJob.updated_at.set(self.now()),
                ],
                condition=PagedJob.job_id.exists() & PagedJob.status.is_in(*OPEN) & free,
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return self.get(job_id)

    def checkpoint(self, job: PagedJob, owner: str) -> None:
        """The page's results and the cursor after it, in one conditional write."""
        self._held(job, owner, [*self._results(job), PagedJob.pages.add(1)])

    def complete(self, job: PagedJob, owner: str) -> None:
        """The finish step's counts and the job done, in one conditional write."""
        now = self.now()
        self._held(
            job,
            owner,
            [
                *self._results(job),
                PagedJob.status.set(DONE),
                PagedJob.active.remove(),
                PagedJob.lease_owner.remove(),
                PagedJob.lease_until.remove(),
                PagedJob.finished_at.set(now),
                PagedJob.expires_at.set(now + KEEP_FINISHED),
            ],
        )
        job.status = DONE

    def release(self, job: PagedJob, owner: str) -> None:
        """Out of time with work left: the next invocation may continue at once."""
        self._held(job, owner, [PagedJob.lease_owner.remove(), PagedJob.lease_until.remove()])

    def record_failure(
        self, job: PagedJob, owner: str, error: str, retry_after: float, give_up_after: int
    ) -> None:
        """An invocation failed: retried from the last checkpoint after `retry_after` seconds,
        failed for good after `give_up_after` failures in a row."""
        failures = int(job.failures or 0) + 1
        actions: list[Any] = [
            PagedJob.failures.set(failures),
            PagedJob.error.set(error[:1000]),
            PagedJob.updated_at.set(self.now()),
        ]
        if failures >= give_up_after:
            now = self.now()
            actions += [
                PagedJob.status.set(FAILED),
                PagedJob.active.remove(),
                PagedJob.lease_owner.remove(),
                PagedJob.lease_until.remove(),
                PagedJob.finished_at.set(now),
                PagedJob.expires_at.set(now + KEEP_FINISHED),
            ]
        else:
            actions.append(PagedJob.lease_until.set(self.wall() + retry_after))
        self._held(job, owner, actions)

    def cancel(self, job_id: str) -> bool:
        """Stop a queued or running job (its runner stops at its next checkpoint)."""
        now = self.now()
        try:
            PagedJob(job_id).update(
                actions=[
                    PagedJob.status.set(CANCELLED),
                    PagedJob.active.remove(),
                    PagedJob.finished_at.set(now),
                    PagedJob.updated_at.set(now),
                    PagedJob.expires_at.set(now + KEEP_FINISHED),
                ],
                condition=PagedJob.job_id.exists() & PagedJob.status.is_in(*OPEN),
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _results(self, job: PagedJob) -> list[Any]:
        return [
            PagedJob.plan.set(job.plan),
            PagedJob.cursor.set(job.cursor),
            PagedJob.counts.set(job.counts),
            PagedJob.state.set(job.state),
            PagedJob.progress.set(job.progress),
            PagedJob.failures.set(0),
            PagedJob.error.remove(),
            PagedJob.updated_at.set(self.now()),
        ]

    def _held(self, job: PagedJob, owner: str, actions: list[Any]) -> None:
        try:
            PagedJob(job.job_id).update(
                actions=actions,
                condition=(PagedJob.lease_owner == owner) & (PagedJob.status == RUNNING),
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise LeaseLost(job.job_id) from error
            raise
