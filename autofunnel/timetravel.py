"""The real application on DynamoDB with a controllable clock: the routes, the event log and its
stream worker, funnels, the step runner, the local scheduler and the outbox, with time moved
forward by hand. Built by the composition root (chalicelib.wiring) like every entry point, and
installed as the process's application. Used by tests, benchmarks and the demo seed."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib import wiring
from chalicelib.channels.base import Channel
from chalicelib.config import Settings
from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import VERIFIED, Entry, contact_subject
from chalicelib.runtime.dispatch import Dispatcher
from chalicelib.runtime.funnel_store import FunnelStore
from chalicelib.runtime.local_scheduler import LocalScheduler
from chalicelib.runtime.runner import Runtime
from chalicelib.storage import messages
from chalicelib.storage.models import Contact, Identity, Wakeup

FUNNELS = Path(__file__).resolve().parent.parent / "funnels"


@dataclass
class HandClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


class Stack:
    def __init__(self, app: wiring.App, clock: HandClock, scheduler: LocalScheduler) -> None:
        self.app = app
        self.clock = clock
        self.scheduler = scheduler
        self._ids = itertools.count(1)

    @classmethod
    def build(
        cls,
        start: datetime,
        settings: Settings | None = None,
        channels: dict[str, Channel] | None = None,
        funnel_index_ttl: float = 0,
    ) -> Stack:
        """`settings` may differ from the process's (e.g. providers pointed at a stand-in).
        `funnel_index_ttl` 0 reads the funnel index again for every event, so a funnel published
        or paused through another store (a second application, the CLI) counts at once; a
        caller that changes funnels only through this stack, or not at all, may keep it longer
        (the stack's own publishes refresh it)."""
        clock = HandClock(start)
        scheduler = LocalScheduler()
        app = wiring.bootstrap(
            settings or wiring.storage(),
            clock=clock,
            channels=channels,
            scheduler=scheduler,
            funnel_index_ttl=funnel_index_ttl,
        )
        return cls(wiring.install(app), clock, scheduler)

    @property
    def runtime(self) -> Runtime:
        return self.app.runtime

    @property
    def funnels(self) -> FunnelStore:
        return self.app.funnels

    @property
    def dispatcher(self) -> Dispatcher:
        return self.app.dispatcher

    def publish(self, filename: str, source: str | None = None) -> None:
        text = source if source is not None else (FUNNELS / filename).read_text()
        self.funnels.publish(text, filename, self.clock())

    def contact(self, contact_id: str, email: str | None = None, **attributes: Any) -> None:
        Contact(contact_id=contact_id, attributes=attributes).save()
        if email:
            Identity(
                f"email:{email}",
                contact_id=contact_id,
                kind="email",
                value=email,
                created_at=self.clock(),
            ).save()

    def event(self, contact_id: str, name: str, **properties: Any) -> None:
        """A server-side event about a known contact, through the log and the worker."""
        self.append(
            Entry(
                subject=contact_subject(contact_id),
                event_id=f"ev-{next(self._ids)}",
                type="track",
                name=name,
                timestamp=self.clock(),
                properties=properties,
                source="test",
                trust=VERIFIED,
            )
        )

    def append(self, *entries: Entry) -> None:
        append(entries, self.clock())
        self.drain()

    def drain(self) -> int:
        """Let the stream worker handle everything appended so far."""
        return self.app.drain()

    def advance(self, delta: timedelta) -> None:
        """Move time forward, firing every wake-up that falls due on the way, in order (each
        wake-up's effects handled by the worker before the next one fires)."""
        until = self.clock() + delta
        self.drain()
        while True:
            due = next(iter(Wakeup.by_due.query("due", scan_index_forward=True, limit=1)), None)
            if due is None or _due(due) > until:
                break
            self.clock.now = max(self.clock.now, _due(due))
            self.scheduler.run_due(self.runtime.handle_wakeup, self.clock())
            self.drain()
        self.clock.now = until

    def run_job(self, kind: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a paged job (chalicelib/jobs.py) with this stack's runtime and clock to its end,
        invocation after invocation; returns the job as the admin API shows it. The jobs' wall
        clock is this stack's clock too, so a killed invocation's lease runs out as time is
        moved on (an open job of the kind, e.g. a killed one, is continued, not restarted)."""
        from chalicelib import jobs
        from chalicelib.paging.budget import Budget
        from chalicelib.paging.service import PagedJobs
        from chalicelib.paging.store import OPEN, JobStore
        from chalicelib.paging.view import describe

        paged = PagedJobs(
            jobs.kinds(lambda: self.runtime, self.clock, lambda: self.app.connection),
            JobStore(lambda: self.clock().timestamp()),
        )
        job, _ = paged.start(kind, self.clock(), params)
        pages: float = -1
        while job.status in OPEN:
            if job.error:
                raise RuntimeError(f"job {job.job_id} failed: {job.error}")
            if job.pages == pages:
                raise RuntimeError(f"job {job.job_id} is held by another runner: move time on")
            pages = job.pages
            job = paged.run(job.job_id, Budget(60)) or job
            self.drain()  # what the job appended to the log reaches analytics and the funnels
        return describe(job)

    def outbox(self, contact_id: str) -> list[tuple[str, str, str]]:
        """(decided at, step, channel) of each message that went out to the contact."""
        return [
            (m.created_at.isoformat(), str(m.step_id), m.channel)
            for m in messages.of_contact(contact_id)
            if m.status not in ("pending", "sending", "skipped", "failed")
        ]


def _due(row: Wakeup) -> datetime:
    return datetime.fromisoformat(row.due_at.replace("Z", "+00:00"))
