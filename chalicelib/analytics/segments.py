"""Saved segments, evaluated incrementally: a contact's membership is re-checked when one of its
events may change it (only segments that listen to that event), when time alone may change it
(a `within` window closing: a due recheck on the sparse `by_recheck` index), and for everyone
once when a segment is saved (the backfill, one Query per shard of `by_shard`).

Changes are written on the contact's stats and as the contact attribute `segments` (funnels
branch on it), counted (`members` gauge, entered/left per day) and emitted as
`segment_entered` / `segment_left` events that funnels may trigger on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from chalicelib.analytics import (
    contact_attributes,
    contact_stats,
    counters,
    emit,
    keys,
    segment_store,
)
from chalicelib.analytics.tally import Tally
from chalicelib.core.funnel import SEGMENT_ENTERED
from chalicelib.core.segments import SEGMENT_LEFT, SegmentDefinition, is_member, listens_to
from chalicelib.core.segments import next_change as segment_next_change
from chalicelib.events import StoredEvent
from chalicelib.runtime.contacts import load_snapshot
from chalicelib.storage.models import ContactStats

RECHECK_SHARDS = 4


def on_events(contact_id: str, events: Sequence[StoredEvent], now: datetime) -> None:
    definitions = segment_store.definitions()
    names = {event.name for event in events}
    own = all(event.source == emit.SOURCE for event in events)
    wanted = [d for d in definitions if _listens(d, names, own)]
    if wanted:
        evaluate(contact_id, now, definitions)


def _listens(definition: SegmentDefinition, names: set[str], own: bool) -> bool:
    listening = listens_to(definition)
    if listening is None:
        return not own  # attribute conditions change on a person's own calls, not on ours
    return bool(listening & names)


def evaluate(
    contact_id: str, now: datetime, definitions: Iterable[SegmentDefinition] | None = None
) -> tuple[set[str], set[str]]:
    """Re-check every saved segment for one contact; returns (entered, left)."""
    definitions = list(segment_store.definitions() if definitions is None else definitions)
    stats = contact_stats.sight(contact_id, now).stats
    if stats.merged_into:
        return set(), set()
    view = load_snapshot(contact_id, now).view
    known = {d.name for d in definitions}
    before = set(stats.segments or ()) & known
    after = {d.name for d in definitions if is_member(d, view, now)}
    entered, left = after - before, before - after
    recheck = min(
        (t for d in definitions if (t := segment_next_change(d, view, now)) is not None),
        default=None,
    )
    _store(stats, after, recheck)  # names of deleted segments drop out here
    if entered or left:
        contact_attributes.set_attributes(contact_id, {"segments": sorted(after)})
        counters.write(_counted(entered, left, now))
        emit.emit(
            [emit.event(contact_id, SEGMENT_ENTERED, now, segment=s) for s in sorted(entered)]
            + [emit.event(contact_id, SEGMENT_LEFT, now, segment=s) for s in sorted(left)]
        )
    return entered, left


def _store(stats: ContactStats, members: set[str], recheck: datetime | None) -> None:
    actions = [
        ContactStats.segments.set(members) if members else ContactStats.segments.remove(),
    ]
    if recheck is None:
        actions += [ContactStats.recheck_at.remove(), ContactStats.recheck_shard.remove()]
    else:
        shard = contact_stats.shard(stats.contact_id, "r", RECHECK_SHARDS)
        actions += [
            ContactStats.recheck_at.set(recheck),
            ContactStats.recheck_shard.set(shard),
        ]
    stats.update(actions=actions)


def _counted(entered: set[str], left: set[str], now: datetime) -> Tally:
    tally = Tally()
    day = keys.segment_day_scope(now)
    for name in entered:
        tally.add(keys.segment_scope(name), "members")
        tally.add(day, keys.segment_day_metric(now, name, "entered"))
    for name in left:
        tally.add(keys.segment_scope(name), "members", -1)
        tally.add(day, keys.segment_day_metric(now, name, "left"))
    return tally


def recheck_due(now: datetime) -> int:
    """The scheduled job: contacts whose membership a closing `within` window may change."""
    done = 0
    for shard in range(RECHECK_SHARDS):
        for row in ContactStats.by_recheck.query(f"r{shard}", ContactStats.recheck_at <= now):
            evaluate(row.contact_id, now)
            done += 1
    return done


def backfill(now: datetime) -> int:
    """Evaluate every known contact (after a segment is saved or changed)."""
    definitions = segment_store.definitions()
    done = 0
    for shard in range(contact_stats.CONTACT_SHARDS):
        for row in ContactStats.by_shard.query(f"c{shard}"):
            evaluate(row.contact_id, now, definitions)
            done += 1
    return done


def forget_segment(name: str) -> None:
    """A deleted segment: its member gauge goes back to zero (members keep stale names until
    their next evaluation, which drops names no longer defined)."""
    members = counters.read(keys.segment_scope(name)).get("members", 0)
    if members:
        tally = Tally()
        tally.add(keys.segment_scope(name), "members", -members)
        counters.write(tally)
