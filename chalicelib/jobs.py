"""The jobs, one definition for every place they run: `@app.schedule` Lambdas and the one-minute
`job_runner` tick on AWS, the local loop of `make run`, the admin routes and the CLI.

Every job that touches many contacts is a paged job (chalicelib/paging): each invocation does
pages within its time budget and checkpoints; a job left unfinished is continued by the next
`job_runner` tick (locally: the next second). This module is an entry point: it alone wires
the job kinds to the adapters of the composition root.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib import wiring

if TYPE_CHECKING:
    from pynamodb.connection import Connection

    from chalicelib.paging.budget import Budget
    from chalicelib.paging.kinds import JobKind
    from chalicelib.paging.service import PagedJobs
    from chalicelib.runtime.broadcasts import Broadcasts
    from chalicelib.runtime.runner import Runtime
    from chalicelib.storage.models import PagedJob

SWEEPER, DATE_TRIGGERS, RFM = "sweeper", "date_triggers", "rfm"
SEGMENT_BACKFILL, SEGMENT_RECHECKS = "segment_backfill", "segment_rechecks"
BROADCAST, BROADCAST_DRY_RUN = "broadcast", "broadcast_dry_run"
log = logging.getLogger(__name__)
TICK_MINUTES = 1  # the `job_runner` tick that continues unfinished jobs


@dataclass(frozen=True)
class Periodic:
    kind: str
    minutes: int


PERIODIC = (
    Periodic(SWEEPER, 5),
    Periodic(DATE_TRIGGERS, 60),
    Periodic(RFM, 24 * 60),
    Periodic(SEGMENT_RECHECKS, 15),
)


# The paging machinery loads when a job runs or is read: `import app` only needs PERIODIC (the
# schedules' rates), and the API's cold start answers a /v1/track without it.
class Kinds(Mapping[str, "JobKind"]):
    """Job kinds built on first use: a route reading a job's status builds none, a job's
    invocation only its own (the runtime's kinds import the whole funnel runtime)."""

    def __init__(self, factories: Mapping[str, Callable[[], JobKind]]) -> None:
        self._factories = dict(factories)
        self._built: dict[str, JobKind] = {}

    def __getitem__(self, name: str) -> JobKind:
        if name not in self._built:
            self._built[name] = self._factories[name]()
        return self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)


def kinds(
    runtime: Callable[[], Runtime],
    clock: Callable[[], datetime],
    connection: Callable[[], Connection],
) -> Kinds:
    """Every kind of paged job, given its collaborators (factories, called when a kind is
    first built). Tests and benchmarks pass their own. The events the jobs emit are appended
    to the event log: the stream worker hands them to analytics and the funnels."""

    def sweeper() -> JobKind:
        from chalicelib.eventlog.append import append
        from chalicelib.onsite import inbox
        from chalicelib.runtime.periodic_jobs import Sweeper

        found = runtime()

        def expire(message_id: str, now: datetime) -> bool:
            expired = inbox.expire(message_id, now)
            if expired is not None:  # the worker records it and tells the funnel
                append([expired], now)
            return expired is not None

        return Sweeper(found.wake_overdue, found.dispatcher, expire)

    def date_triggers() -> JobKind:
        from chalicelib.runtime.periodic_jobs import DateTriggers

        return DateTriggers(runtime())

    def rfm() -> JobKind:
        from chalicelib.analytics.rfm import RfmScoring

        return RfmScoring()

    def backfill() -> JobKind:
        from chalicelib.analytics.segments import SegmentBackfill

        return SegmentBackfill(clock, connection())

    def rechecks() -> JobKind:
        from chalicelib.analytics.segments import SegmentRechecks

        return SegmentRechecks(clock, connection())

    def broadcast() -> JobKind:
        from chalicelib.runtime.broadcast_jobs import BroadcastSend
        from chalicelib.runtime.broadcasts import finished

        return BroadcastSend(runtime(), clock, finished)

    def broadcast_dry_run() -> JobKind:
        from chalicelib.runtime.broadcast_jobs import BroadcastDryRun

        return BroadcastDryRun(runtime(), clock)

    return Kinds(
        {
            SWEEPER: sweeper,
            DATE_TRIGGERS: date_triggers,
            RFM: rfm,
            SEGMENT_BACKFILL: backfill,
            SEGMENT_RECHECKS: rechecks,
            BROADCAST: broadcast,
            BROADCAST_DRY_RUN: broadcast_dry_run,
        }
    )


def paged_jobs() -> PagedJobs:
    from chalicelib.paging.service import PagedJobs

    application = wiring.app()
    return PagedJobs(
        kinds(lambda: application.runtime, application.now, lambda: application.connection),
        clock=application.now,
    )


def broadcasts() -> Broadcasts:
    """Saving, following and cancelling broadcasts (their sends are `broadcast` jobs)."""
    from chalicelib.runtime.broadcasts import Broadcasts

    return Broadcasts(wiring.funnel_store(), paged_jobs(), lambda: wiring.clock()())


def lambda_budget(context: Any) -> Budget:
    """What an invocation's remaining time leaves the jobs (a reserve kept to checkpoint in)."""
    from chalicelib.paging.budget import Budget

    return Budget.for_lambda(context)


def run_periodic(kind: str, budget: Budget) -> dict[str, Any]:
    """A schedule fired: start this period's job of `kind` and do what the budget allows. The
    sweeper first replays the wake-ups EventBridge dead-lettered (in at most half the budget)."""
    replayed = replay_dead_wakeups(budget) if kind == SWEEPER else None
    every = next(p.minutes for p in PERIODIC if p.kind == kind)
    jobs = paged_jobs()
    job = jobs.start_periodic(kind, wiring.clock()(), timedelta(minutes=every))
    after = jobs.run(job.job_id, budget)
    result = summary(_describe(after or job))
    return result if replayed is None else {**result, "dead_wakeups": replayed}


def replay_dead_wakeups(budget: Budget) -> dict[str, int] | None:
    """None where wake-ups have no dead-letter queue (the local scheduler)."""
    application = wiring.app()
    queue_arn = application.settings.dead_letter_queue_arn
    if not queue_arn:
        return None
    from chalicelib.runtime import dead_wakeups

    stop_at = budget.remaining() / 2
    try:
        url = dead_wakeups.queue_url(application.sqs, queue_arn)
        done = dead_wakeups.replay(
            application.sqs,
            url,
            application.runtime.handle_wakeup,
            lambda: budget.remaining() - stop_at,
        )
    except Exception:  # the queue unreachable: the paged sweep still runs
        log.exception("could not read the wake-up dead-letter queue")
        return {"replayed": 0, "kept": 0, "unreachable": 1}
    return {"replayed": done.replayed, "kept": done.kept}


def continue_open(budget: Budget) -> dict[str, Any]:
    """The tick: continue every unfinished job while the budget lasts."""
    return {"jobs": [summary(_describe(job)) for job in paged_jobs().continue_open(budget)]}


def start(
    kind: str, params: dict[str, Any] | None = None, *, supersede: bool = False
) -> tuple[dict[str, Any], bool]:
    """Queue a job for the next tick (routes answer 202 with it); (job, created)."""
    job, created = paged_jobs().start(kind, wiring.clock()(), params, supersede=supersede)
    return _describe(job), created


def drain(budget_seconds: float = 60.0) -> list[dict[str, Any]]:
    """Run every open job to its end here and now, invocation after invocation (the demo seed,
    tests, an operator's `autofunnel jobs drain`); stops early when no job can progress (a
    failing job waiting for its retry, a lease held elsewhere). Returns the jobs it ran."""
    from chalicelib.paging.budget import Budget

    paged = paged_jobs()
    seen: dict[str, dict[str, Any]] = {}
    while True:
        ran = paged.continue_open(Budget(budget_seconds))
        progressed = False
        for job in ran:
            view = _describe(job)
            before = seen.get(view["id"])
            progressed |= before is None or before["pages"] != view["pages"]
            seen[view["id"]] = view
        if not progressed or not paged.store.active():
            return list(seen.values())


def _describe(job: PagedJob) -> dict[str, Any]:
    from chalicelib.paging.view import describe

    return describe(job)


def summary(view: dict[str, Any]) -> dict[str, Any]:
    """What a Lambda returns (and logs): the job, its status, progress and counts."""
    keys = ("id", "kind", "status", "progress", "counts", "error")
    return {key: view[key] for key in keys}
