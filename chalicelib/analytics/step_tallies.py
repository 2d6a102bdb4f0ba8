"""A committed step's figures, read off the enrollments' own stream.

The commit writes what the step adds to the counters on the enrollment item itself
(`figures`, {scope: {metric: amount}}) with the version that commit wrote (`figures_of`): no
tally item joins the commit, which is then a single conditional write. The enrollments'
stream worker (`StepTallies`, the `step_tallies` Lambda) sums the figures of a batch's records
into one tally, put to the event log like the events worker's (chalicelib.analytics.fold), named
after the batch's first record that counts: a redelivered batch, or either half of a bisected
one, whose first counting record is the same replaces it (the events stream carries the old and
new figures, and the fold adds the difference), and a batch with nothing to count (reactions,
merges, erasures) writes nothing. (Named after the batch's first record instead, the first half
of a bisected batch that counts nothing would leave the whole batch's tally in place, and the
second half would count its records again.)

A record counts only when its write brought new figures: an INSERT with figures, or a MODIFY
whose `figures_of` differs from the old image's, in both cases naming the version written.
Nothing else that writes an enrollment counts: a merge's copy under the survivor carries no
figures (chalicelib.identity.merge drops them), deletes (erasure, the merge's) and writes that
leave the token as it was add nothing. An enrollment last committed before the figures moved
onto it (its tally was committed with it) has no `figures_of`: it counts only from its next
commit on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from chalicelib.analytics import keys
from chalicelib.analytics.tally import Tally
from chalicelib.eventlog.stream import INSERT, MODIFY, StreamRecord, failures, records_of

Figures = dict[str, list[str | list[str | int]]]
OWN = ""  # the enrollment's own funnel scope (its `funnel` and `funnel_version`)
STEP = "#"  # ... and its `step#{id}#` metrics, grouped under "#{id}" (no scope starts with "#")


class Ledger(Protocol):
    def put(self, key: str, tally: Tally, now: datetime, empty_too: bool = False) -> None: ...


def encode(tally: Tally, own_scope: str) -> Figures | None:
    """The tally as the enrollment keeps it, short: it makes most commits' items a few hundred
    bytes bigger, and a write is billed per KB of the larger of the old and new item. The
    enrollment's own funnel scope is implied, step metrics are grouped by step, and an amount
    of 1 is implied (`metric`, else `[metric, amount]`). None when there is nothing to count."""
    figures: Figures = {}
    for scope, metric, amount in tally.items():
        group, name = scope, metric
        if scope == own_scope:
            group = OWN
            kind, _, rest = metric.partition(STEP)
            if kind == "step" and STEP in rest:  # split at any "#": decode joins them again
                step_id, _, name = rest.partition(STEP)
                group = f"{STEP}{step_id}"
        whole = amount == amount.to_integral_value()
        value: int | str = int(amount) if whole else str(amount)
        figures.setdefault(group, []).append(name if value == 1 else [name, value])
    return figures or None


def decode(figures: Mapping[str, Any], own_scope: str) -> Tally:
    tally = Tally()
    for group, entries in figures.items():
        scope, prefix = group, ""
        if group == OWN:
            scope = own_scope
        elif group.startswith(STEP):
            scope, prefix = own_scope, f"step{group}{STEP}"
        for entry in entries:
            name, amount = (entry, 1) if isinstance(entry, str) else entry
            tally.add(scope, f"{prefix}{name}", Decimal(str(amount)))
    return tally


def counted(record: StreamRecord) -> Tally:
    """What one record of the enrollments' stream adds to the counters (see the module)."""
    if record.event_name not in (INSERT, MODIFY) or record.new is None:
        return Tally()
    token = _number(record.new, "figures_of")
    raw = (record.new.get("figures") or {}).get("S")
    if token is None or not raw or token != _number(record.new, "version"):
        return Tally()
    old = record.old if record.event_name == MODIFY else None
    if old is not None and _number(old, "figures_of") == token:
        return Tally()  # written again without a new commit: counted already
    own = keys.funnel_scope(_text(record.new, "funnel"), _number(record.new, "funnel_version") or 0)
    return decode(json.loads(raw), own)


def _text(image: Mapping[str, Any], name: str) -> str:
    return str((image.get(name) or {}).get("S") or "")


def _number(image: Mapping[str, Any], name: str) -> int | None:
    value = (image.get(name) or {}).get("N")
    return int(value) if value is not None else None


class StepTallies:
    """The enrollments' stream worker: one tally per batch."""

    def __init__(self, ledger: Ledger, clock: Any) -> None:
        self.ledger = ledger
        self.clock = clock

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """The Lambda entry point. A failed put raises: the batch is delivered again (whole, or
        bisected), and its tally, put again under its first counting record's name, replaces this
        one."""
        tally, first = Tally(), ""
        for record in records_of(event):
            figures = counted(record)
            if any(True for _ in figures.items()):
                first = first or record.event_id
                tally.update(figures)
        if first:
            self.ledger.put(f"steps:{first}", tally, self.clock(), empty_too=True)
        return failures([])
