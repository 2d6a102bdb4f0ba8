"""Broadcasts: one-off campaigns to a saved segment, saved, scheduled, followed and cancelled.

A broadcast is a row of the `broadcasts` table (its definition and schedule), the funnel it runs
as (`broadcast-{name}`, published when it is saved: its messages and figures are a funnel
step's) and a paged job (`broadcast`, queued with `not_before` = its `at`) that enters every
member once (chalicelib/runtime/broadcast_jobs.py). A broadcast runs once: until its job starts
it may be saved again (replaced) or cancelled; once started, saving it again is refused, and a
cancel stops the job at its next page and ends the enrollments still waiting (the funnel is
archived).

    Broadcasts(funnels, jobs, clock)
        .save(name, data) -> (view, created | updated | unchanged)
        .get(name) / .list() -> views: status, progress, counts, stats
        .cancel(name) -> view
        .dry_run(name, data | None) -> the dry run's job
    finished(work)    the send job's last step: the final counts on the row
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.core.broadcast import PREFIX, Broadcast, InvalidBroadcast, parse_broadcast
from chalicelib.paging.kinds import Work
from chalicelib.paging.service import PagedJobs
from chalicelib.paging.store import CANCELLED, DONE, FAILED, QUEUED, RUNNING
from chalicelib.paging.view import describe
from chalicelib.runtime.broadcast_jobs import DRY_RUN, GROUP, SEND
from chalicelib.runtime.funnel_store import ACTIVE, ARCHIVED, FunnelStore
from chalicelib.storage.models import Broadcast as BroadcastRow
from chalicelib.storage.models import PagedJob, SavedSegment

PAST_GRACE = timedelta(minutes=1)  # an `at` this far behind is a mistake, not "now"
STATS = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "unsubscribed",
    "failed",
    "attributed_orders",
    "attributed_revenue",
    "waiting",
)


class BroadcastConflict(Exception):
    """Saving again a broadcast that has started (it runs once), or cancelling a finished one."""


class UnknownBroadcast(LookupError):
    pass


class Broadcasts:
    def __init__(
        self, funnels: FunnelStore, jobs: PagedJobs, clock: Callable[[], datetime]
    ) -> None:
        self.funnels = funnels
        self.jobs = jobs
        self.clock = clock

    # --- saving -----------------------------------------------------------------------------

    def save(self, name: str, data: Any) -> tuple[dict[str, Any], str]:
        """Validate, publish its funnel and queue its job; (view, "created" | "updated" |
        "unchanged"). InvalidBroadcast names the field; BroadcastConflict once it started."""
        broadcast = self._valid(name, data)
        definition = broadcast.model_dump(mode="json", exclude_none=True)
        checksum = _checksum(definition)
        now = self.clock()
        row = _row(name)
        if row is not None:
            job = self.jobs.store.get(row.job_id)
            if row.checksum == checksum and (job is not None or row.status):
                return self.view(row, job), "unchanged"
            if not _replaceable(row, job):
                raise BroadcastConflict(
                    f"broadcast {name!r} has started; a broadcast runs once: "
                    "give the new one another name"
                )
            self.jobs.store.cancel(row.job_id)
        source = json.dumps(broadcast.funnel_definition(), indent=1)  # JSON is YAML too
        published = self.funnels.publish(source, f"{broadcast.funnel_name}.yaml", now)
        if self.funnels.state_of(broadcast.funnel_name) != ACTIVE:  # cancelled, saved again
            self.funnels.set_state(broadcast.funnel_name, ACTIVE)
        # The row first, naming its job, then the job (which reads its definition from the row).
        fresh = row is None
        row = row or BroadcastRow(GROUP, name, created_at=now)
        row.definition = definition
        row.checksum = checksum
        row.segment = broadcast.segment
        row.at = broadcast.at
        row.funnel_version = published.version
        row.job_id = f"{SEND}-{name}-{uuid.uuid4().hex[:8]}"
        row.status = None
        row.counts = None
        row.updated_at = now
        row.save()
        job, _ = self.jobs.start(
            SEND,
            broadcast.at or now,
            {
                "broadcast": name,
                "funnel_name": broadcast.funnel_name,
                "funnel_version": published.version,
            },
            job_id=row.job_id,
            exclusive=False,
            not_before=broadcast.at,
        )
        return self.view(row, job), "created" if fresh else "updated"

    def dry_run(self, name: str, data: Any | None) -> dict[str, Any]:
        """Count per channel what the broadcast (`data`, or the one saved as `name`) would do
        now: a job (202); its counts are the answer."""
        if data is None:
            row = _row(name)
            if row is None:
                raise UnknownBroadcast(name)
            broadcast = Broadcast.model_validate(row.definition)
        else:
            broadcast = self._valid(name, data)
        job, _ = self.jobs.start(
            DRY_RUN,
            self.clock(),
            {"broadcast": name, "definition": broadcast.model_dump(mode="json", exclude_none=True)},
            exclusive=False,
        )
        return describe(job)

    def _valid(self, name: str, data: Any) -> Broadcast:
        broadcast = parse_broadcast(name, data)
        problems = []
        if not _segment_exists(broadcast.segment):
            problems.append(
                ("segment", f"no saved segment {broadcast.segment!r} (PUT /admin/segments first)")
            )
        if broadcast.funnel is not None and self.funnels.state_of(broadcast.funnel) != ACTIVE:
            problems.append(("funnel", f"no active funnel {broadcast.funnel!r} to hand over to"))
        if broadcast.at is not None and broadcast.at < self.clock() - PAST_GRACE:
            problems.append(("at", f"{broadcast.at.isoformat()} is in the past"))
        if problems:
            raise InvalidBroadcast(problems)
        return broadcast

    # --- reading ----------------------------------------------------------------------------

    def get(self, name: str) -> dict[str, Any]:
        row = _row(name)
        if row is None:
            raise UnknownBroadcast(name)
        view = self.view(row)
        view["stats"] = self.stats(row)
        return view

    def list(self) -> list[dict[str, Any]]:
        rows = list(BroadcastRow.query(GROUP, consistent_read=True))
        ids = [row.job_id for row in rows]
        jobs = {job.job_id: job for job in PagedJob.batch_get(ids)} if ids else {}
        views = [self.view(row, jobs.get(row.job_id)) for row in rows]
        return sorted(views, key=lambda view: view["starts_at"], reverse=True)

    def view(self, row: BroadcastRow, job: PagedJob | None = None) -> dict[str, Any]:
        job = job or self.jobs.store.get(row.job_id)
        described = describe(job) if job is not None else None
        definition = dict(row.definition)
        return {
            "name": row.name,
            "segment": row.segment,
            "channels": definition.get("channels", []),
            "funnel": definition.get("funnel"),
            "at": row.at.isoformat() if row.at else None,
            "starts_at": (row.at or row.created_at).isoformat(),
            "status": self._status(row, job),
            "progress": described["progress"] if described else 1.0,
            "counts": described["counts"] if described else dict(row.counts or {}),
            "job": described,
            "funnel_name": definition_funnel(row.name),
            "funnel_version": int(row.funnel_version),
            "definition": definition,
            "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat(),
        }

    def stats(self, row: BroadcastRow) -> dict[str, Any]:
        """The send step's figures, as a funnel step's: delivered, opened, clicked,
        unsubscribed, attributed revenue; `waiting`: held for quiet hours or caps still."""
        from chalicelib.analytics.funnel_stats import figures, step_table

        name = definition_funnel(row.name)
        version = int(row.funnel_version)
        funnel = self.funnels.version(name, version)
        steps = step_table(funnel, figures(name, [version]))
        first = steps[0] if steps else {}
        return {figure: first.get(figure, 0) for figure in STATS}

    def _status(self, row: BroadcastRow, job: PagedJob | None) -> str:
        if row.status:
            return str(row.status)
        if job is None:  # expired unfinished, or never created (a save that failed half-way)
            return FAILED
        if job.status == QUEUED:
            due = job.not_before is None or job.not_before <= self.clock()
            return "queued" if due else "scheduled"
        return "sending" if job.status == RUNNING else str(job.status)

    # --- cancelling -------------------------------------------------------------------------

    def cancel(self, name: str) -> dict[str, Any]:
        """Stop the job at its next page, and drop the sends still held for quiet hours or caps
        (the funnel is archived: its enrollments end at their next wake-up). A broadcast that
        has sent everything has nothing left to stop."""
        row = _row(name)
        if row is None:
            raise UnknownBroadcast(name)
        job = self.jobs.store.get(row.job_id)
        running = job is not None and job.status in (QUEUED, RUNNING)
        if row.status == CANCELLED or (not running and not self.stats(row)["waiting"]):
            status = self._status(row, job)
            raise BroadcastConflict(f"broadcast {name!r} is {status}: nothing left to stop")
        if running:
            self.jobs.store.cancel(row.job_id)
            job = self.jobs.store.get(row.job_id)
        self.funnels.set_state(definition_funnel(name), ARCHIVED)
        counts = dict(job.counts or {}) if job is not None else dict(row.counts or {})
        row.update(
            actions=[  # the row's version guards against a save at the same moment
                BroadcastRow.status.set(CANCELLED),
                BroadcastRow.counts.set(counts),
                BroadcastRow.updated_at.set(self.clock()),
            ]
        )
        return self.view(row, job)


def finished(work: Work) -> None:
    """The send job's finish step (it may run twice after a crash: the same write again)."""
    try:
        BroadcastRow(GROUP, work.params["broadcast"]).update(
            actions=[BroadcastRow.status.set(DONE), BroadcastRow.counts.set(dict(work.counts))],
            condition=BroadcastRow.job_id == work.job_id,  # not a newer save's job
            add_version_condition=False,
        )
    except UpdateError as error:  # saved again meanwhile: the new job will say how it ended
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def definition_funnel(name: str) -> str:
    return PREFIX + name


def _row(name: str) -> BroadcastRow | None:
    try:
        return BroadcastRow.get(GROUP, name, consistent_read=True)
    except BroadcastRow.DoesNotExist:
        return None


def _replaceable(row: BroadcastRow, job: PagedJob | None) -> bool:
    """Before its job ran (queued, scheduled or not), or after it was cancelled or failed: the
    new definition goes to the members who did not get the old one (the funnel is entered once
    per contact, whatever its version)."""
    if row.status in (CANCELLED, FAILED):
        return True
    if row.status or job is None:
        return False
    return job.status in (CANCELLED, FAILED) or (job.status == QUEUED and not job.invocations)


def _segment_exists(name: str) -> bool:
    try:
        SavedSegment.get("segment", name, consistent_read=True)
    except SavedSegment.DoesNotExist:
        return False
    return True


def _checksum(definition: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()
