"""One batch of the log's stream: who each entry is about, then each contact's entries in order.

Entries are grouped by contact (one profile update per contact per batch); a contact whose
entries fail does not hold back the others, and its records are reported back to the stream.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib import observability
from chalicelib.eventlog.append import entry_of
from chalicelib.eventlog.entry import CONTACT, MESSAGE, ORDER, PROVIDER, TALLY, Entry
from chalicelib.eventlog.stream import INSERT, failures, records_of
from chalicelib.events import StoredEvent
from chalicelib.identity.resolver import Resolver
from chalicelib.storage import contacts
from chalicelib.storage.models import Event
from chalicelib.worker import contact_entries, feedback

log = logging.getLogger(__name__)


class EventHandler(Protocol):
    def handle(self, events: Sequence[StoredEvent]) -> None: ...


class Worker:
    def __init__(
        self,
        runtime: Any,
        analytics: EventHandler,
        clock: Callable[[], datetime],
        retention: timedelta,
        phone_region: str = "",
    ) -> None:
        self.runtime = runtime
        self.analytics = analytics
        self.clock = clock
        self.retention = retention
        self.phone_region = phone_region

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """The Lambda entry point for the events table's stream."""
        entries = [
            entry_of(Event.from_raw_data(dict(record.new)), record.sequence)
            for record in records_of(event)
            if record.event_name == INSERT and record.new is not None
        ]
        return failures(self.process(entries))

    def process(self, entries: Sequence[Entry]) -> list[str]:
        """Handle the entries; returns the positions of those that failed."""
        now = self.clock()
        resolver = Resolver(now)
        resolver.prefetch(
            key for entry in entries if _by_identity(entry) for key in entry.keys + entry.lookup
        )
        groups: dict[str, list[Entry]] = defaultdict(list)
        failed: list[str] = []
        for entry in entries:
            if entry.subject.startswith(TALLY):
                continue
            try:
                owner = self._owner(entry, resolver)
            except Exception:
                log.exception("could not resolve %s/%s", entry.subject, entry.event_id)
                failed.append(entry.position)
                continue
            if owner is not None:
                groups[owner].append(entry)
        for contact_id, group in _merged_groups(groups, resolver).items():
            correlation = next((entry.correlation for entry in group if entry.correlation), "")
            try:
                with observability.correlate(correlation or None):
                    self._contact(contact_id, group, contact_id in resolver.created, now)
            except Exception:
                log.exception("entries of contact %s failed", contact_id)
                failed.extend(entry.position for entry in group)
        return failed

    def _contact(self, contact_id: str, group: list[Entry], created: bool, now: datetime) -> None:
        stored = contact_entries.apply(contact_id, group, created, now)
        for entry in group:
            if entry.verified and entry.keys:
                feedback.remember_buyer(entry, now, self.retention)
        self.analytics.handle(stored)
        self.runtime.handle(stored)
        feedback.apply(group, contact_id, self.runtime, now)

    def _owner(self, entry: Entry, resolver: Resolver) -> str | None:
        if entry.subject.startswith(CONTACT):
            found = contacts.resolve(entry.subject.removeprefix(CONTACT))
            return found.contact_id if found else None
        if entry.subject.startswith((MESSAGE, PROVIDER)):
            return feedback.contact_of(entry)
        if entry.subject.startswith(ORDER):
            keys = feedback.order_buyer(entry)
            if keys:  # filed again under the buyer: their timeline, funnels and analytics
                feedback.refile(entry, resolver.resolve(keys))
            return None
        if not entry.keys:  # only looked up (an inbound text): never a new contact
            resolver.prefetch(entry.lookup)
            owners = [resolver.owners.get(key) for key in entry.lookup]
            found = next((owner for owner in owners if owner), None)
            return resolver.current(found) if found else None
        return resolver.resolve(entry.keys + entry.lookup, entry.lookup)


def _merged_groups(groups: dict[str, list[Entry]], resolver: Resolver) -> dict[str, list[Entry]]:
    """Groups of contacts merged later in the batch join their survivor's group."""
    merged: dict[str, list[Entry]] = defaultdict(list)
    for contact_id, group in groups.items():
        merged[resolver.current(contact_id)].extend(group)
    return merged


def _by_identity(entry: Entry) -> bool:
    return not entry.subject.startswith((CONTACT, MESSAGE, PROVIDER, ORDER, TALLY))
