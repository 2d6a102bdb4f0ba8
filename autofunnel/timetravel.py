"""The real runtime on DynamoDB with a controllable clock: funnels, the step runner, the local
scheduler and the outbox, with time moved forward by hand. Used by tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib import wiring
from chalicelib.channels.registry import build_channels
from chalicelib.config import Settings
from chalicelib.events import StoredEvent
from chalicelib.runtime.dispatch import Dispatcher, engine_links
from chalicelib.runtime.funnel_store import FunnelStore
from chalicelib.runtime.local_scheduler import LocalScheduler
from chalicelib.runtime.runner import Runtime
from chalicelib.storage import messages
from chalicelib.storage.models import Contact, Identity, Wakeup

FUNNELS = Path(__file__).resolve().parent.parent / "funnels"


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Stack:
    clock: FakeClock
    funnels: FunnelStore
    scheduler: LocalScheduler
    dispatcher: Dispatcher
    runtime: Runtime
    sequence: int = field(default=0)

    @classmethod
    def build(cls, start: datetime, settings: Settings | None = None) -> Stack:
        """`settings` may differ from the process's (e.g. providers pointed at a stand-in)."""
        clock = FakeClock(start)
        connection = wiring.dynamodb_connection()
        funnels = FunnelStore(connection, index_ttl_seconds=0)
        scheduler = LocalScheduler()
        settings = settings or wiring.storage()
        dispatcher = Dispatcher(build_channels(settings), settings, clock)
        runtime = Runtime(
            funnels, scheduler, dispatcher, connection, clock, links=engine_links(settings)
        )
        return cls(clock, funnels, scheduler, dispatcher, runtime)

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
        self.sequence += 1
        self.runtime.handle(
            [
                StoredEvent(
                    contact_id, f"ev-{self.sequence}", "track", name, self.clock(), properties
                )
            ]
        )

    def advance(self, delta: timedelta) -> None:
        """Move time forward, firing every wake-up that falls due on the way, in order."""
        until = self.clock() + delta
        while True:
            due = next(iter(Wakeup.by_due.query("due", scan_index_forward=True, limit=1)), None)
            if due is None or datetime.fromisoformat(due.due_at.replace("Z", "+00:00")) > until:
                break
            self.clock.now = max(
                self.clock.now, datetime.fromisoformat(due.due_at.replace("Z", "+00:00"))
            )
            self.scheduler.run_due(self.runtime.handle_wakeup, self.clock())
        self.clock.now = until

    def run_job(self, kind: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a paged job (chalicelib/jobs.py) with this stack's runtime and clock to its end,
        invocation after invocation; returns the job as the admin API shows it. The jobs' wall
        clock is this stack's clock too, so a killed invocation's lease runs out as time is
        moved on (an open job of the kind, e.g. a killed one, is continued, not restarted)."""
        from chalicelib import jobs
        from chalicelib.paging.runner import Budget
        from chalicelib.paging.service import PagedJobs
        from chalicelib.paging.store import OPEN, JobStore
        from chalicelib.paging.view import describe

        retention = timedelta(days=wiring.storage().event_retention_days)
        paged = PagedJobs(
            jobs.kinds(
                lambda: self.runtime,
                self.clock,
                wiring.dynamodb_connection,
                retention,
                wiring.event_sink,
            ),
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
        return describe(job)

    def outbox(self, contact_id: str) -> list[tuple[str, str, str]]:
        """(decided at, step, channel) of each message that went out to the contact."""
        return [
            (m.created_at.isoformat(), str(m.step_id), m.channel)
            for m in messages.of_contact(contact_id)
            if m.status not in ("pending", "sending", "skipped", "failed")
        ]
