"""The runtime's paged jobs: date triggers (hourly) and the sweeper (every 5 minutes).

- `date_triggers`: one partition per date funnel and day key that can be "today" somewhere
  (the marks of `date_marks`, a Query each); each contact is entered by the runtime once per
  date: an enrollment this run started (its `started_at` is the job's time) counts as entered
  when a page is handled again after a crash.
- `sweeper`: wake-ups overdue by more than the grace period (the sparse, sharded `by_wake`
  index: inline and near ones, a broadcast's entries, enrollments from the release before far
  wake-ups were scheduled ahead of their commit; a far one EventBridge dead-lettered is
  replayed from its queue just before this job: chalicelib.jobs.run_periodic), then messages
  left undispatched by a crash (`by_dispatch`), then on-site messages nobody saw in their window
  (`by_onsite_expiry`). Handling any of them twice is harmless: a stale wake-up token changes
  nothing, a send is claimed by a conditional write, and an expired message has left the sparse
  index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.onsite import inbox
from chalicelib.paging.kinds import Page, Pass, Work
from chalicelib.paging.sources import IndexQuery, shards
from chalicelib.runtime import date_triggers
from chalicelib.runtime.dispatch import SHARDS as DISPATCH_SHARDS
from chalicelib.runtime.dispatch import STUCK_AFTER, Dispatcher
from chalicelib.runtime.runner import SWEEP_GRACE, WAKE_SHARDS, Runtime
from chalicelib.storage.models import DateMark, Enrollment, Message

DATE_TRIGGERS, SWEEPER = "date_triggers", "sweeper"


@dataclass(frozen=True)
class DueMarks:
    """Partitions "{funnel}|{day key}" for every date funnel at the job's time."""

    runtime: Runtime

    def partitions(self, work: Work) -> list[str]:
        found = []
        for funnel in self.runtime.funnels.index().date_funnels:
            trigger = funnel.trigger.date
            assert trigger is not None
            for key in date_triggers.day_keys(
                trigger.attribute, trigger.offset_days, work.as_of.date()
            ):
                found.append(f"{funnel.name}|{key}")
        return found

    def read(self, work: Work, partition: str, start: dict[str, Any] | None, limit: int) -> Page:
        key = partition.split("|", 1)[1]
        results = DateMark.query(key, limit=limit, last_evaluated_key=start, page_size=limit)
        return Page(list(results), results.last_evaluated_key)

    def estimate(self, work: Work) -> int | None:
        return None


class DateTriggers:
    name = DATE_TRIGGERS
    counts = ("checked", "entered")

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def passes(self, work: Work) -> Sequence[Pass]:
        return [Pass("marks", DueMarks(self.runtime), self.enter, page_size=100)]

    def enter(self, work: Work, marks: Sequence[DateMark]) -> None:
        funnel, key = work.partition.split("|", 1)
        for mark in marks:
            work.count("checked")
            if self.runtime.enter_on_date(funnel, mark.contact_id, key, work.as_of):
                work.count("entered")

    def finish(self, work: Work) -> None:
        pass


class Sweeper:
    name = SWEEPER
    counts = ("overdue_wakeups", "recovered_messages", "expired_onsite")

    def __init__(
        self,
        wake_overdue: Callable[[str, str], None],
        dispatcher: Dispatcher,
        expire_onsite: Callable[[str, datetime], bool],
    ) -> None:
        self.wake_overdue = wake_overdue  # Runtime.wake_overdue(contact_id, enrollment_key)
        self.dispatcher = dispatcher
        self.expire_onsite = expire_onsite  # True when it expired the message (chalicelib/jobs.py)

    def passes(self, work: Work) -> Sequence[Pass]:
        overdue = IndexQuery(
            Enrollment.by_wake,
            shards("w", WAKE_SHARDS),
            lambda work: Enrollment.wake_at <= work.as_of - SWEEP_GRACE,
        )
        undispatched = IndexQuery(
            Message.by_dispatch,
            shards("d", DISPATCH_SHARDS),
            lambda work: Message.created_at <= work.as_of - STUCK_AFTER,
        )
        unseen = IndexQuery(
            Message.by_onsite_expiry,
            shards("o", inbox.SHARDS),
            lambda work: Message.expires_at <= work.as_of,
        )
        return [
            Pass("wakeups", overdue, self.wake, page_size=100),
            Pass("messages", undispatched, self.recover, page_size=100),
            Pass("onsite", unseen, self.expire, page_size=100),
        ]

    def wake(self, work: Work, rows: Sequence[Enrollment]) -> None:
        for row in rows:
            self.wake_overdue(row.contact_id, row.enrollment_key)
            work.count("overdue_wakeups")

    def recover(self, work: Work, rows: Sequence[Message]) -> None:
        for row in rows:
            if self.dispatcher.recover(row.message_id):
                work.count("recovered_messages")

    def expire(self, work: Work, rows: Sequence[Message]) -> None:
        for row in rows:
            if self.expire_onsite(row.message_id, work.as_of):
                work.count("expired_onsite")

    def finish(self, work: Work) -> None:
        pass
