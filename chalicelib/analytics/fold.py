"""Counting exactly once under at-least-once delivery, without a counter write per event.

Stage 1, a *tally*: what a unit of work adds to the counters, summed and put to the event log
under "tally:{lane}" with an id naming the work.
- The stream worker puts one per batch, named after the batch's first record. A redelivered or
  bisected batch starts at a record of the earlier delivery: its tally overwrites that
  record's tally (the stream carries the old and the new figures) instead of adding a second.
  A batch counts only its records before the first one it failed: those from there on come
  back in the next delivery, which counts them.
- A committed funnel step writes its figures on the enrollment it commits; the enrollments'
  stream worker puts one tally per batch of them (chalicelib.analytics.step_tallies), named
  after the batch's first record that counts. A send that fails for good puts its tally in
  the same transaction as the failure (named after the message): it commits, with its
  figures, once.

Stage 2, the *fold*: the worker hands the tallies it reads on the stream to the counters. A lane
is one log partition, so its tallies arrive in order; each counter has one write shard per lane
that remembers the last tally position it folded (chalicelib.analytics.counters.fold), so a
redelivered tally is skipped, and no counter item takes more than a lane's share of the writes
(shards are summed when figures are read).

Stage 1 must give the same figures each time a record is handled again: every figure is a
function of the record and of what the state says that record caused (the history entry a
status added, the order a contact's stats took in, the first sighting), never of whether this
attempt was the first to write.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pynamodb.transactions import TransactWrite

from chalicelib.analytics import counters
from chalicelib.analytics.tally import Tally
from chalicelib.eventlog.append import item_of
from chalicelib.eventlog.entry import TALLY, VERIFIED, Entry
from chalicelib.eventlog.stream import INSERT, MODIFY, StreamRecord, position_key
from chalicelib.storage.models import Event

log = logging.getLogger(__name__)
LANES = 4
TYPE = "tally"
_SEPARATOR = "|"


def lane_of(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % LANES


def is_tally(entry_subject: str) -> bool:
    return entry_subject.startswith(TALLY)


def tally_entry(key: str, tally: Tally, now: datetime) -> Entry:
    figures = {
        f"{scope}{_SEPARATOR}{metric}": str(amount) for scope, metric, amount in tally.items()
    }
    return Entry(
        subject=f"{TALLY}{lane_of(key)}",
        event_id=key,
        type=TYPE,
        name="figures",
        timestamp=now,
        properties={"figures": figures},
        source="worker",
        trust=VERIFIED,
    )


class Ledger:
    """Where the runtime and the worker put their tallies (the event log)."""

    def put(self, key: str, tally: Tally, now: datetime, empty_too: bool = False) -> None:
        """Unconditional: a redelivered batch's tally replaces the earlier attempt's (`empty_too`:
        also when its figures cancel out, so that it replaces one that did not)."""
        if empty_too or any(True for _ in tally.items()):
            item_of(tally_entry(key, tally, now), now).save()

    def put_in(self, transaction: TransactWrite, key: str, tally: Tally, now: datetime) -> None:
        """With the change it counts."""
        if any(True for _ in tally.items()):
            transaction.save(item_of(tally_entry(key, tally, now), now))


@dataclass(frozen=True)
class _Change:
    lane: int
    sequence: str  # the stream's
    position: str  # the same, comparable (zero-padded)
    figures: dict[tuple[str, str], Decimal]


def fold(records: Sequence[StreamRecord]) -> list[str]:
    """Fold the tallies among `records` into the counters, one update per counter shard;
    returns the sequence numbers of the records to deliver again (a counter write failed)."""
    changes = [change for record in records if (change := _change(record)) is not None]
    by_item: dict[tuple[int, str, str], list[tuple[str, Decimal]]] = defaultdict(list)
    sequence_of = {change.position: change.sequence for change in changes}
    for change in changes:
        for (scope, metric), amount in change.figures.items():
            by_item[(change.lane, scope, metric)].append((change.position, amount))
    failed: list[str] = []
    for (lane, scope, metric), amounts in sorted(by_item.items()):
        try:
            counters.fold(scope, metric, lane, amounts)
        except Exception:
            log.exception("folding %s/%s (lane %d) failed: delivered again", scope, metric, lane)
            failed.append(sequence_of[min(position for position, _ in amounts)])
    return failed


def _change(record: StreamRecord) -> _Change | None:
    if record.event_name not in (INSERT, MODIFY) or record.new is None:
        return None
    new = Event.from_raw_data(dict(record.new))
    if new.type != TYPE or not is_tally(new.subject):
        return None
    figures = _figures(new)
    if record.event_name == MODIFY and record.old is not None:
        for key, amount in _figures(Event.from_raw_data(dict(record.old))).items():
            figures[key] = figures.get(key, Decimal(0)) - amount
    lane = int(new.subject.removeprefix(TALLY))
    figures = {key: amount for key, amount in figures.items() if amount}
    return _Change(lane, record.sequence, position_key(record.sequence), figures)


def _figures(item: Event) -> dict[tuple[str, str], Decimal]:
    raw: Mapping[str, Any] = (item.properties.as_dict() if item.properties else {}).get(
        "figures", {}
    )
    found: dict[tuple[str, str], Decimal] = {}
    for key, amount in raw.items():
        scope, _, metric = str(key).partition(_SEPARATOR)
        found[(scope, metric)] = Decimal(str(amount))
    return found
