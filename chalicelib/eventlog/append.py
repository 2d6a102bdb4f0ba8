"""Appending to the log: one conditional put per entry (its subject and event id must be new),
so a redelivered event is recognised in the same write that stores it, with no receipt first.

DynamoDB has no conditional batch write, so the puts of a request go out concurrently."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib import observability
from chalicelib.eventlog.entry import Entry, trust_level
from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.models import Event

CONCURRENCY = 16


@dataclass
class Appended:
    stored: list[Entry] = field(default_factory=list)
    duplicates: list[Entry] = field(default_factory=list)


def item_of(entry: Entry, now: datetime) -> Event:
    received = entry.received_at or now
    return Event(
        entry.subject,
        entry.event_id,
        type=entry.type,
        name=entry.name,
        timestamp=entry.timestamp,
        received_at=received,
        properties=entry.properties,
        context=entry.context or None,
        keys=list(entry.keys) or None,
        lookup=list(entry.lookup) or None,
        source=entry.source,
        trust=entry.trust,
        anchor=entry.anchor,
        correlation=entry.correlation or None,
        expires_at=received + Event.retention,
    )


def entry_of(item: Event, position: str = "") -> Entry:
    return Entry(
        subject=item.subject,
        event_id=item.event_id,
        type=item.type,
        name=item.name,
        timestamp=item.timestamp,
        properties=_plain(item.properties),
        context=_plain(item.context),
        keys=tuple(item.keys or ()),
        lookup=tuple(item.lookup or ()),
        source=item.source,
        trust=trust_level(item.trust),
        anchor=item.anchor,
        received_at=item.received_at,
        correlation=item.correlation or "",
        position=position,
    )


def receive(entries: Sequence[Entry], now: datetime) -> Appended:
    """What the routes call: append what came in, stamped with the request's correlation id
    (the worker logs under it when it handles the entry), and count it (EventsIn)."""
    correlation = observability.correlation_id()
    if correlation:
        entries = [dataclasses.replace(entry, correlation=correlation) for entry in entries]
    result = append(entries, now)
    by_source = Counter(entry.source for entry in result.stored)
    for source, count in sorted(by_source.items()):
        observability.events_in(count, source)
    return result


def append(entries: Sequence[Entry], now: datetime) -> Appended:
    """Store each new entry once; the rest are duplicates (a retry, a provider's redelivery).
    Raises on a storage failure: what was stored stays, and the sender's retry adds the rest."""
    result = Appended()
    unique: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        key = (entry.subject, entry.event_id)
        if key in unique:
            result.duplicates.append(entry)
        else:
            unique[key] = entry
    fresh = list(unique.values())
    if len(fresh) <= 1:
        outcomes = [_put(entry, now) for entry in fresh]
    else:
        Event._get_connection().connection.client  # noqa: B018  # made before the threads
        with ThreadPoolExecutor(min(CONCURRENCY, len(fresh))) as pool:
            outcomes = list(pool.map(lambda entry: _put(entry, now), fresh))
    for entry, stored in zip(fresh, outcomes, strict=True):
        (result.stored if stored else result.duplicates).append(entry)
    return result


def _put(entry: Entry, now: datetime) -> bool:
    try:
        with conflicts_as_domain_errors("append event"):
            item_of(entry, now).save(condition=Event.event_id.does_not_exist())
    except ConflictError:
        return False
    return True


def _plain(value: object) -> dict[str, object]:
    if value is None:
        return {}
    as_dict = getattr(value, "as_dict", None)
    return dict(as_dict() if as_dict else value)  # type: ignore[call-overload]
