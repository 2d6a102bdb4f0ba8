"""Broadcasts as paged jobs: the send (`broadcast`) and its dry run (`broadcast_dry_run`).

Both read every contact, one shard of `contact_stats.by_shard` at a time, and keep the members
of the broadcast's saved segment (their stored membership, one BatchGetItem per page).

- `broadcast` enters each member into the broadcast's own funnel (`broadcast-{name}`, entered
  once per contact): the engine decides each send, so consent, dead addresses, topics, quiet
  hours in the contact's own time zone and frequency caps hold as in any funnel. A page's new
  enrollments and messages are written together (Runtime.enter_each); a page handled again
  after a crash finds them and counts each member from what it finds, sending what a crash
  left pending (the send is claimed by a conditional write): nobody gets it twice, nobody is
  counted twice. Members nobody can reach, or who switched the broadcast's topic off, are
  counted and never enrolled. Sends wait for the broadcast's `pace` per channel.
- `broadcast_dry_run` counts, for the same members, the channel each would get it on now (or
  why not), and how many quiet hours or caps would hold for now. It writes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from chalicelib.analytics.contact_stats import CONTACT_SHARDS
from chalicelib.channels.ratelimit import TokenBucket
from chalicelib.core import engine
from chalicelib.core.broadcast import NO_CHANNEL, OPTED_OUT, SEND_STEP, Broadcast, route
from chalicelib.core.clock import cap_window
from chalicelib.core.decisions import ScheduleWakeup, SendMessage
from chalicelib.core.funnel import Funnel
from chalicelib.core.state import ACTIVE
from chalicelib.paging.kinds import Pass, Work
from chalicelib.paging.sources import IndexQuery, shards
from chalicelib.runtime import parallel
from chalicelib.runtime.contacts import ContactSnapshot, load_snapshots, with_window
from chalicelib.runtime.dispatch import FAILED, HELD, PENDING, SKIPPED, STUCK_AFTER
from chalicelib.runtime.runner import Entered, Runtime, first_message_key, message_id_of
from chalicelib.runtime.scheduler import Wakeup
from chalicelib.storage.models import Broadcast as BroadcastRow
from chalicelib.storage.models import ContactStats, Enrollment, Message

SEND, DRY_RUN = "broadcast", "broadcast_dry_run"
GROUP = "broadcast"  # the broadcasts table's one partition
SENT, HELD_BACK, SKIPPED_OVER, FAILED_SEND = "sent", "held", "skipped", "failed"
HANDED_OVER = "handed_over"
PAGE_SIZE = 100
LONGEST_PACE_WAIT = 3600.0  # seconds one send may wait for its channel's pace
PACED_PAGE = STUCK_AFTER / 2  # how long a paced page's sends may take
WORKERS = parallel.WORKERS  # a page's reads, sends and wake-ups run on this many threads


def paced_page(broadcast: Broadcast) -> int:
    """Contacts per page: as many as the slowest pace sends in PACED_PAGE. A page's sends are
    claimed when it starts and wait for their turn after: a page that outlasted STUCK_AFTER
    would have its last sends taken by the sweeper for interrupted ones and sent twice."""
    rates = broadcast.pace_per_second().values()
    if not rates:
        return PAGE_SIZE
    return max(1, min(PAGE_SIZE, int(min(rates) * PACED_PAGE.total_seconds())))


def members_source() -> IndexQuery:
    """Every contact, shard by shard; the index's item count is the progress bar's total."""
    return IndexQuery(ContactStats.by_shard, shards("c", CONTACT_SHARDS), counts_all=True)


def members(segment: str, rows: Sequence[ContactStats]) -> list[str]:
    """The page's contacts that are in the saved segment now (merged-away ones never are)."""
    ids = [row.contact_id for row in rows]
    found = ContactStats.batch_get(ids) if ids else []
    inside = {
        stats.contact_id
        for stats in found
        if not stats.merged_into and segment in (stats.segments or ())
    }
    return [contact_id for contact_id in ids if contact_id in inside]


class _Definitions:
    """The broadcast and the funnel it runs as, parsed once per job and container: from the job
    (a dry run of an unsaved definition) or from the saved broadcast (a send: its content stays
    out of the job item, which every checkpoint rewrites and DynamoDB bills by size)."""

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[Broadcast, Funnel]] = {}

    def of(self, work: Work) -> tuple[Broadcast, Funnel]:
        if work.job_id not in self._parsed:
            definition = work.params.get("definition")
            if definition is None:
                definition = BroadcastRow.get(GROUP, work.params["broadcast"]).definition
            broadcast = Broadcast.model_validate(definition)
            funnel = Funnel.from_dict(broadcast.funnel_definition())
            version = work.params.get("funnel_version")
            if version is not None:
                funnel = dataclasses.replace(funnel, version=int(version))
            self._parsed = {work.job_id: (broadcast, funnel)}  # one job at a time here
        return self._parsed[work.job_id]


class BroadcastSend:
    name = SEND
    counts = ("members", SENT, HELD_BACK, SKIPPED_OVER, FAILED_SEND, "opted_out", "unreachable")

    def __init__(
        self,
        runtime: Runtime,
        clock: Callable[[], datetime],
        finished: Callable[[Work], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.clock = clock  # quiet hours and caps are judged when each page is sent
        self.finished = finished  # records the final counts on the broadcast
        self.definitions = _Definitions()
        self._paces: dict[tuple[str, str], TokenBucket] = {}

    def passes(self, work: Work) -> Sequence[Pass]:
        broadcast, _ = self.definitions.of(work)
        return [Pass("contacts", members_source(), self.send, page_size=paced_page(broadcast))]

    def finish(self, work: Work) -> None:
        if self.finished is not None:
            self.finished(work)

    def send(self, work: Work, rows: Sequence[ContactStats]) -> None:
        broadcast, _ = self.definitions.of(work)
        ids = members(broadcast.segment, rows)
        work.count("members", len(ids))
        now = self.clock()  # quiet hours and caps are judged as this page goes out
        snapshots = load_snapshots(ids, now, events=False, addresses=True, workers=WORKERS)
        reachable: dict[str, ContactSnapshot] = {}
        for contact_id in ids:
            why = route(broadcast, snapshots[contact_id].view)
            if why in (OPTED_OUT, NO_CHANNEL):
                work.count(SKIPPED_OVER)
                work.count("opted_out" if why == OPTED_OUT else "unreachable")
            else:
                reachable[contact_id] = snapshots[contact_id]
        if broadcast.funnel is not None:
            for contact_id in reachable:
                work.count(self._hand_over(work, broadcast.funnel, contact_id))
            return
        funnel = self.runtime.funnels.version(
            broadcast.funnel_name, int(work.params["funnel_version"])
        )
        pace = self._pace(work, broadcast)
        entered = self.runtime.enter_each(funnel, reachable, now, before_send=pace, workers=WORKERS)
        found = {contact_id: entry for contact_id, entry in entered.items() if not entry.new}
        earlier = self._first_messages(found)
        for contact_id, entry in entered.items():
            messages = entry.messages if entry.new else earlier.get(contact_id, [])
            if not entry.new:
                self._repair(entry.enrollment, messages, reachable[contact_id], pace)
            work.count(outcome(entry.enrollment, messages))

    def _repair(
        self,
        row: Enrollment,
        messages: Sequence[Message],
        snapshot: ContactSnapshot,
        pace: Callable[[Message], None],
    ) -> None:
        """An enrollment a killed attempt committed: what the crash may have left undone after
        the commit is done now, idempotently: its send (claimed by a conditional write) or the
        wake-up that sends it when the quiet hours end (scheduled under its own name)."""
        for message in messages:
            if message.status == PENDING:
                pace(message)
                self.runtime.dispatcher.dispatch(message, snapshot.reach)
        if not messages and outcome(row, messages) == HELD_BACK and row.wake_at is not None:
            self.runtime.scheduler.schedule(
                Wakeup(row.contact_id, row.enrollment_key, int(row.wake_token), row.wake_at)
            )

    def _hand_over(self, work: Work, target: str, contact_id: str) -> str:
        """Enter the broadcast's funnel (its one step hands over to `target`); handed over when
        the contact is in `target` since then. A crash between the two is repaired here."""
        funnel_name = work.params["funnel_name"]
        self.runtime.enroll(funnel_name, contact_id)  # once: False when entered before
        rows = list(Enrollment.query(contact_id, consistent_read=True))
        mine = next((row for row in rows if row.funnel == funnel_name), None)
        if mine is None:
            return SKIPPED_OVER
        if any(row.funnel == target and row.started_at >= mine.started_at for row in rows):
            return HANDED_OVER
        return HANDED_OVER if self.runtime.enroll(target, contact_id) else SKIPPED_OVER

    def _first_messages(self, found: Mapping[str, Entered]) -> dict[str, list[Message]]:
        """The send step's message of each enrollment found (one BatchGetItem per 100)."""
        ids = {
            message_id_of(first_message_key(entry.enrollment.enrollment_id, SEND_STEP)): cid
            for cid, entry in found.items()
        }
        messages: dict[str, list[Message]] = {}
        for message in Message.batch_get(list(ids), consistent_read=True) if ids else []:
            messages.setdefault(ids[message.message_id], []).append(message)
        return messages

    def _pace(self, work: Work, broadcast: Broadcast) -> Callable[[Message], None]:
        rates = broadcast.pace_per_second()

        def wait_for_turn(message: Message) -> None:
            channel = str(message.channel)
            if channel not in rates:
                return
            key = (work.job_id, channel)
            if key not in self._paces:  # no burst: one send per 1/rate seconds
                self._paces[key] = TokenBucket(rates[channel], capacity=1.0)
            self._paces[key].acquire(max_wait=LONGEST_PACE_WAIT)

        return wait_for_turn


def outcome(enrollment: Enrollment, messages: Sequence[Message]) -> str:
    """What the broadcast did for one member, from its enrollment and its message."""
    if messages:
        status = messages[0].status
        if status == FAILED:
            return FAILED_SEND
        if status == SKIPPED:
            return SKIPPED_OVER
        if status in (PENDING, HELD):  # a provider's back-off, a daily limit: sent later
            return HELD_BACK
        return SENT  # sending, sent, and every reaction after
    if enrollment.status == ACTIVE and enrollment.current_step == SEND_STEP:
        return HELD_BACK  # quiet hours or a frequency cap: a wake-up sends it later
    return SKIPPED_OVER


class BroadcastDryRun:
    """What the broadcast would do now, counted per channel: nothing is written or sent."""

    name = DRY_RUN
    counts = ("members", "held_now", "opted_out", "unreachable")

    def __init__(self, runtime: Runtime, clock: Callable[[], datetime]) -> None:
        self.runtime = runtime
        self.clock = clock
        self.definitions = _Definitions()

    def passes(self, work: Work) -> Sequence[Pass]:
        return [Pass("contacts", members_source(), self.count, page_size=PAGE_SIZE)]

    def finish(self, work: Work) -> None:
        pass

    def count(self, work: Work, rows: Sequence[ContactStats]) -> None:
        broadcast, funnel = self.definitions.of(work)
        ids = members(broadcast.segment, rows)
        work.count("members", len(ids))
        now = self.clock()
        window = cap_window(funnel, self.runtime.workspace_cap)
        snapshots = load_snapshots(ids, now, events=False, addresses=True, workers=WORKERS)

        def verdict(snapshot: ContactSnapshot) -> tuple[str, bool]:
            """Where it would go (or why not), and whether it would be held for now."""
            view = snapshot.view
            why = route(broadcast, view)
            if why.startswith("funnel:"):
                return HANDED_OVER, False
            if why in (OPTED_OUT, NO_CHANNEL):
                return why, False
            view = with_window(snapshot, now, window).view  # its recent sends, for caps
            return why, _held_now(funnel, view, now, self.runtime)

        for why, held in parallel.each(verdict, list(snapshots.values()), WORKERS):
            work.count(why)
            if held:
                work.count("held_now")


def _held_now(funnel: Funnel, view: Any, now: datetime, runtime: Runtime) -> bool:
    """Quiet hours in the contact's zone, or a frequency cap, would hold the send for now."""
    decided = engine.start(
        funnel, view, None, now, "dry-run", links=runtime.links, workspace_cap=runtime.workspace_cap
    ).decisions
    sends = any(isinstance(d, SendMessage) for d in decided)
    return not sends and any(isinstance(d, ScheduleWakeup) for d in decided)
