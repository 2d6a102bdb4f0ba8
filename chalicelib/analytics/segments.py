"""Saved segments, evaluated incrementally: a contact's membership is re-checked when one of its
events may change it (only segments that listen to that event), when time alone may change it
(a `within` window closing: the `segment_rechecks` job pages through the sparse `by_recheck`
index), and for everyone once when a segment is saved (the `segment_backfill` job pages through
the shards of `by_shard`).

Changes are written on the contact's stats and as the contact attribute `segments` (funnels
branch on it), counted (`members` gauge, entered/left per day) and emitted as
`segment_entered` / `segment_left` events, appended to the event log (the worker hands them to
funnels). In the jobs, a change is one transaction: the stats with a mark naming the job and
what changed, the counters and the log entries; a page handled again after a crash finds the
mark and counts the contact from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.analytics import (
    contact_attributes,
    contact_stats,
    counters,
    emit,
    keys,
    segment_store,
)
from chalicelib.analytics.contact_stats import CONTACT_SHARDS
from chalicelib.analytics.tally import Tally
from chalicelib.core import conditions as c
from chalicelib.core.funnel import SEGMENT_ENTERED
from chalicelib.core.segments import SEGMENT_LEFT, SegmentDefinition, is_member, listens_to
from chalicelib.core.segments import next_change as segment_next_change
from chalicelib.core.state import ContactView
from chalicelib.eventlog.append import item_of
from chalicelib.events import StoredEvent
from chalicelib.runtime.contacts import load_snapshot, load_snapshots
from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.models import ContactStats, Event

if TYPE_CHECKING:  # the paged jobs' machinery loads in the jobs, not with the worker's graph
    from chalicelib.paging.kinds import Pass, Work

RECHECK_SHARDS = 4
BACKFILL, RECHECKS = "segment_backfill", "segment_rechecks"


def on_events(
    contact_id: str, events: Sequence[StoredEvent], now: datetime, connection: Connection
) -> None:
    definitions = segment_store.definitions()
    names = {event.name for event in events}
    own = all(event.source == emit.SOURCE for event in events)
    wanted = [d for d in definitions if _listens(d, names, own)]
    if wanted:
        evaluate(contact_id, now, connection, definitions)


def _listens(definition: SegmentDefinition, names: set[str], own: bool) -> bool:
    listening = listens_to(definition)
    if listening is None:
        return not own  # attribute conditions change on a person's own calls, not on ours
    return bool(listening & names)


@dataclass(frozen=True)
class Decision:
    stored: frozenset[str]  # as stored, names of deleted segments included
    after: frozenset[str]
    entered: frozenset[str]
    left: frozenset[str]
    recheck: datetime | None


def decide(
    stats: ContactStats,
    view: ContactView,
    definitions: Sequence[SegmentDefinition],
    now: datetime,
) -> Decision:
    """Which saved segments the contact is in now, and when time alone may change that."""
    stored = frozenset(stats.segments or ())
    before = stored & {d.name for d in definitions}
    after = frozenset(d.name for d in definitions if is_member(d, view, now))
    recheck = min(
        (t for d in definitions if (t := segment_next_change(d, view, now)) is not None),
        default=None,
    )
    return Decision(stored, after, after - before, before - after, recheck)


def evaluate(
    contact_id: str,
    now: datetime,
    connection: Connection,
    definitions: Iterable[SegmentDefinition] | None = None,
) -> tuple[set[str], set[str]]:
    """Re-check every saved segment for one contact; returns (entered, left). A change commits
    with its counters and events in one transaction, conditional on the membership it saw: the
    same events handled again find nothing left to change."""
    definitions = list(segment_store.definitions() if definitions is None else definitions)
    stats = contact_stats.sight(contact_id, now).stats
    if stats.merged_into:
        return set(), set()
    view = load_snapshot(contact_id, now).view
    for _ in range(3):  # the membership changed under us: decide again
        decision = decide(stats, view, definitions, now)
        if not decision.entered and not decision.left:
            if decision.after != decision.stored or decision.recheck != stats.recheck_at:
                _store(stats, decision.after, decision.recheck)  # deleted segments drop out
            return set(), set()
        try:
            commit_change(connection, stats, decision, now)
            return set(decision.entered), set(decision.left)
        except ConflictError:
            stats.refresh(consistent_read=True)
    raise ConflictError(f"segments of {contact_id} kept changing")


def commit_change(
    connection: Connection,
    stats: ContactStats,
    decision: Decision,
    now: datetime,
    mark: dict[str, Any] | None = None,
) -> None:
    """The membership (with a job's `mark`), its counters and its events: all or nothing, on
    condition that the stored membership is still the one decided from."""
    contact_id = stats.contact_id
    contact_attributes.set_attributes(contact_id, {"segments": sorted(decision.after)})
    events = [
        emit.event(contact_id, SEGMENT_ENTERED, now, segment=s) for s in sorted(decision.entered)
    ] + [emit.event(contact_id, SEGMENT_LEFT, now, segment=s) for s in sorted(decision.left)]
    unchanged = (
        ContactStats.segments == set(decision.stored)
        if decision.stored
        else ContactStats.segments.does_not_exist()
    )
    actions = _membership(contact_id, decision.after, decision.recheck)
    if mark is not None:
        actions.append(ContactStats.segment_job.set(mark))
    with (
        conflicts_as_domain_errors(f"segments of {contact_id}"),
        TransactWrite(connection=connection) as transaction,
    ):
        transaction.update(stats, actions, condition=unchanged)
        counters.write_in(transaction, _counted(decision.entered, decision.left, now))
        for event in events:
            item = item_of(emit.entry_of(event), now)
            transaction.save(item, condition=Event.event_id.does_not_exist())


def _store(stats: ContactStats, members: Set[str], recheck: datetime | None) -> None:
    stats.update(actions=_membership(stats.contact_id, members, recheck))


def _membership(contact_id: str, members: Set[str], recheck: datetime | None) -> list[Any]:
    actions: list[Any] = [
        ContactStats.segments.set(set(members)) if members else ContactStats.segments.remove(),
    ]
    if recheck is None:
        actions += [ContactStats.recheck_at.remove(), ContactStats.recheck_shard.remove()]
    else:
        shard = contact_stats.shard(contact_id, "r", RECHECK_SHARDS)
        actions += [
            ContactStats.recheck_at.set(recheck),
            ContactStats.recheck_shard.set(shard),
        ]
    return actions


def _counted(entered: Set[str], left: Set[str], now: datetime) -> Tally:
    tally = Tally()
    day = keys.segment_day_scope(now)
    for name in entered:
        tally.add(keys.segment_scope(name), "members")
        tally.add(day, keys.segment_day_metric(now, name, "entered"))
    for name in left:
        tally.add(keys.segment_scope(name), "members", -1)
        tally.add(day, keys.segment_day_metric(now, name, "left"))
    return tally


class SegmentJob:
    """Evaluates every saved segment for each contact of a page (the backfill and the rechecks
    differ only in which contacts they read)."""

    name = ""
    counts = ("evaluated", "entered", "left")

    def __init__(self, clock: Callable[[], datetime], connection: Connection) -> None:
        self.clock = clock  # membership is evaluated as of when each page runs
        self.connection = connection  # for the change transactions

    def passes(self, work: Work) -> Sequence[Pass]:
        raise NotImplementedError

    def finish(self, work: Work) -> None:
        """Nothing to add up: counters changed with each contact."""

    def evaluate(self, work: Work, rows: Sequence[ContactStats]) -> None:
        definitions = segment_store.definitions(fresh=True)  # one Query per page
        ids = [row.contact_id for row in rows]
        found = {s.contact_id: s for s in ContactStats.batch_get(ids, consistent_read=True)}
        reads = _reads(definitions)
        snapshots = load_snapshots(
            ids, self.clock(), events=reads["events"], addresses=reads["addresses"]
        )
        for contact_id in ids:
            stats = found.get(contact_id)
            if stats is None or stats.merged_into:
                continue
            entered, left = self._evaluate(work, stats, snapshots[contact_id].view, definitions)
            work.count("evaluated")
            work.count("entered", len(entered))
            work.count("left", len(left))

    def _evaluate(
        self,
        work: Work,
        stats: ContactStats,
        view: ContactView,
        definitions: Sequence[SegmentDefinition],
    ) -> tuple[Set[str], Set[str]]:
        for _ in range(3):  # a concurrent change to the contact's membership: decide again
            mark = _plain(stats.segment_job)
            if mark.get("job") == work.job_id:
                return set(mark.get("entered", ())), set(mark.get("left", ()))
            now = self.clock()
            decision = decide(stats, view, definitions, now)
            if not decision.entered and not decision.left:
                if decision.after != decision.stored or decision.recheck != stats.recheck_at:
                    _store(stats, decision.after, decision.recheck)
                return set(), set()
            try:
                self._commit(work, stats, decision, now)
                return decision.entered, decision.left
            except ConflictError:
                stats.refresh(consistent_read=True)
        raise ConflictError(f"segments of {stats.contact_id} kept changing under the job")

    def _commit(self, work: Work, stats: ContactStats, decision: Decision, now: datetime) -> None:
        mark = {"job": work.job_id, "entered": sorted(decision.entered)}
        mark["left"] = sorted(decision.left)
        commit_change(self.connection, stats, decision, now, mark)


class SegmentBackfill(SegmentJob):
    """Every contact (after a segment is saved or changed), one shard of `by_shard` at a time."""

    name = BACKFILL

    def passes(self, work: Work) -> Sequence[Pass]:
        from chalicelib.paging.kinds import Pass
        from chalicelib.paging.sources import IndexQuery, shards

        every = IndexQuery(ContactStats.by_shard, shards("c", CONTACT_SHARDS), counts_all=True)
        return [Pass("contacts", every, self.evaluate, page_size=100)]


class SegmentRechecks(SegmentJob):
    """Contacts whose membership a closing `within` window may change (due by the job's time)."""

    name = RECHECKS

    def passes(self, work: Work) -> Sequence[Pass]:
        from chalicelib.paging.kinds import Pass
        from chalicelib.paging.sources import IndexQuery, shards

        due = IndexQuery(
            ContactStats.by_recheck,
            shards("r", RECHECK_SHARDS),
            lambda work: ContactStats.recheck_at <= work.as_of,
        )
        return [Pass("due", due, self.evaluate, page_size=100)]


def _reads(definitions: Sequence[SegmentDefinition]) -> dict[str, bool]:
    """What the conditions read beyond the profile: the event history, addresses."""
    kinds = {type(cond) for d in definitions for cond in c.walk(d.condition)}
    return {"events": c.EventCond in kinds, "addresses": c.ReachableCond in kinds}


def _plain(value: Any) -> dict[str, Any]:
    return value.as_dict() if value is not None and hasattr(value, "as_dict") else dict(value or {})


def forget_segment(name: str) -> None:
    """A deleted segment: its member gauge goes back to zero (members keep stale names until
    their next evaluation, which drops names no longer defined)."""
    members = counters.read(keys.segment_scope(name)).get("members", 0)
    if members:
        tally = Tally()
        tally.add(keys.segment_scope(name), "members", -members)
        counters.write(tally)
