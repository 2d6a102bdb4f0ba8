"""One batch of the log's stream: who each entry is about, then each contact's entries in order.

Entries are grouped by contact (one profile update per contact per batch); a contact whose
entries fail does not hold back the others, and its records are reported back to the stream.

What the batch adds to the counters is summed into one tally, put to the log once per batch
(chalicelib.analytics.fold); the tallies the stream brings back are folded into the counters.
A batch counts only its records before the first one it reports failed: the stream delivers
that one and everything after it again, and the next delivery counts them.

A batch holds up to a thousand records (chalicelib.eventlog.stream), and a contact's entries may
send messages through slow providers: the worker starts no contact's entries once its
invocation has less than `RESERVE` of its time left, and hands them back to the stream
unstarted.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib import observability
from chalicelib.analytics import fold
from chalicelib.analytics.tally import Tally
from chalicelib.eventlog.append import entry_of
from chalicelib.eventlog.entry import CONTACT, MESSAGE, ORDER, PROVIDER, TALLY, Entry
from chalicelib.eventlog.stream import INSERT, StreamRecord, failures, position_key, records_of
from chalicelib.events import StoredEvent
from chalicelib.identity.resolver import Resolver
from chalicelib.ingest.profile import opt_in_channels
from chalicelib.storage import contacts
from chalicelib.storage.models import Event
from chalicelib.worker import contact_entries, feedback
from chalicelib.worker.messages import BatchMessages

if TYPE_CHECKING:
    from chalicelib.paging.budget import Budget

log = logging.getLogger(__name__)

RESERVE = 0.1  # the share of the invocation's time kept for the last contact, tally and answer
RESERVE_AT_LEAST = 20.0  # seconds


class Analytics(Protocol):
    def figures(
        self, contact_id: str, events: Sequence[StoredEvent], fresh: bool | None
    ) -> list[Tally]: ...


class Ledger(Protocol):
    def put(self, key: str, tally: Tally, now: datetime) -> None: ...


ConfirmNumbers = Callable[[str, Set[str], datetime], object]


def landed_on(stored: Sequence[StoredEvent], contact_id: str) -> str:
    """The contact the events landed on (a merge tombstone is followed by the profile update)."""
    return next((event.contact_id for event in stored if event.contact_id), contact_id)


class Worker:
    def __init__(
        self,
        runtime: Any,
        analytics: Analytics,
        ledger: Ledger,
        clock: Callable[[], datetime],
        retention: timedelta,
        phone_region: str = "",
        confirm_numbers: ConfirmNumbers | None = None,
    ) -> None:
        self.runtime = runtime
        self.analytics = analytics
        self.ledger = ledger
        self.clock = clock
        self.retention = retention
        self.phone_region = phone_region
        # A claim's consent to texts becomes a confirmation text (chalicelib.tracking.opt_in).
        self.confirm_numbers = confirm_numbers

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """The Lambda entry point for the events table's stream."""
        records = records_of(event)
        tallies = [record for record in records if record.keys_subject.startswith(TALLY)]
        entries = [
            entry_of(Event.from_raw_data(dict(record.new)), record.sequence)
            for record in records
            if record.event_name == INSERT
            and record.new is not None
            and not record.keys_subject.startswith(TALLY)
        ]
        figures: list[tuple[str, Tally]] = []
        failed = self.process(entries, figures, _budget(context)) + fold.fold(tallies)
        self._count(records, figures, failed)
        return failures(failed)

    def _count(
        self, records: Sequence[StreamRecord], figures: list[tuple[str, Tally]], failed: list[str]
    ) -> None:
        """One tally for the batch: the figures of its records before the first failed one,
        named after its first record (a redelivery from there replaces it)."""
        if not records:
            return
        cut = min((position_key(s) for s in failed), default=None)
        tally = Tally()
        for position, figure in figures:
            if cut is None or position_key(position) < cut:
                tally.update(figure)
        self.ledger.put(f"batch:{records[0].event_id}", tally, self.clock())

    def process(
        self,
        entries: Sequence[Entry],
        figures: list[tuple[str, Tally]] | None = None,
        budget: Budget | None = None,
    ) -> list[str]:
        """Handle the entries; returns the positions of those that failed or were not started
        (the `budget` was spent), and adds to `figures` what each handled entry adds to the
        counters (position, tally)."""
        figures = [] if figures is None else figures
        now = self.clock()
        resolver = Resolver(now)
        resolver.prefetch(
            key for entry in entries if _by_identity(entry) for key in entry.keys + entry.lookup
        )
        messages = BatchMessages()  # what provider feedback is about, read together
        messages.prefetch(entries)
        groups: dict[str, list[Entry]] = defaultdict(list)
        failed: list[str] = []
        # Entries that only look a person up (an inbound text, a chat's consent) go after those
        # that may make them known: a request's entries are appended concurrently, so the stream
        # may carry a /start's consent before the event that links the chat.
        for entry in sorted(entries, key=_only_looks_up):
            if entry.subject.startswith(TALLY):
                continue
            try:
                owner, changes = self._owner(entry, resolver, messages)
            except Exception:
                log.exception("could not resolve %s/%s", entry.subject, entry.event_id)
                failed.append(entry.position)
                continue
            if owner is not None:
                # A claim the trust rules keep off this contact: stored, but changes nothing.
                groups[owner].append(entry if changes else replace(entry, changes=False))
        # Oldest first: handing back the rest then moves the stream's checkpoint past them.
        merged = sorted(
            _merged_groups(groups, resolver).items(),
            key=lambda item: min(position_key(entry.position) for entry in item[1]),
        )
        for index, (contact_id, group) in enumerate(merged):
            if budget is not None and index > 0 and budget.remaining() <= 0:  # one at least
                later = [entry.position for _, rest in merged[index:] for entry in rest]
                observability.records_handed_back(len(later))
                failed.extend(later)
                break
            correlation = next((entry.correlation for entry in group if entry.correlation), "")
            try:
                with observability.correlate(correlation or None):
                    created = contact_id in resolver.created
                    figures += self._contact(contact_id, group, created, now, messages)
            except Exception:
                log.exception("entries of contact %s failed", contact_id)
                failed.extend(entry.position for entry in group)
        return failed

    def _contact(
        self,
        contact_id: str,
        group: list[Entry],
        created: bool,
        now: datetime,
        messages: BatchMessages,
    ) -> list[tuple[str, Tally]]:
        handled = contact_entries.apply(contact_id, group, created, now)
        stored = handled.events
        for entry in group:
            if entry.verified and entry.keys:
                feedback.remember_buyer(entry, now, self.retention)
        asked = {channel for entry in group for channel in opt_in_channels(entry)}
        if asked and self.confirm_numbers is not None:
            try:
                self.confirm_numbers(landed_on(stored, contact_id), asked, now)
            except Exception:  # the events stand; the person may ask again
                log.exception("could not ask contact %s to confirm its number", contact_id)
        figures: list[tuple[str, Tally]] = []
        if stored:
            tallies = self.analytics.figures(landed_on(stored, contact_id), stored, handled.fresh)
            figures += [
                (event.position, tally) for event, tally in zip(stored, tallies, strict=True)
            ]
        self.runtime.handle(stored, handled.listening)
        for entry, tally in feedback.apply(group, contact_id, self.runtime, now, messages):
            figures.append((entry.position, tally))
        return figures

    def _owner(
        self, entry: Entry, resolver: Resolver, messages: BatchMessages
    ) -> tuple[str | None, bool]:
        """The contact the entry is about, and whether its traits and consents may change it."""
        if entry.subject.startswith(CONTACT):
            found = contacts.resolve(entry.subject.removeprefix(CONTACT))
            return (found.contact_id if found else None), True
        if entry.subject.startswith((MESSAGE, PROVIDER)):
            return feedback.contact_of(entry, messages), True
        if entry.subject.startswith(ORDER):
            keys = feedback.order_buyer(entry)
            if keys:  # filed again under the buyer: their timeline, funnels and analytics
                feedback.refile(entry, resolver.resolve(keys, trust_level=entry.trust))
            return None, True
        if not entry.keys:  # only looked up (an inbound text): never a new contact
            resolver.prefetch(entry.lookup)
            owners = [resolver.owners.get(key) for key in entry.lookup]
            found = next((owner for owner in owners if owner), None)
            return (resolver.current(found) if found else None), True
        # What the entry's source proves decides where it lands (chalicelib.core.trust).
        resolved = resolver.resolve_call(
            entry.keys + entry.lookup,
            entry.lookup,
            entry.trust,
            entry.anchor,
            changes_asked=entry.type == "identify",
        )
        return resolved.contact_id, resolved.changes


def _budget(context: Any) -> Budget | None:
    """The Lambda invocation's time, less the reserve (None: not in a Lambda, e.g. the local
    poller)."""
    if not hasattr(context, "get_remaining_time_in_millis"):
        return None
    from chalicelib.paging.budget import Budget  # small; the worker's graph keeps paging out

    return Budget.for_lambda(context, keep=RESERVE, at_least=RESERVE_AT_LEAST)


def _only_looks_up(entry: Entry) -> bool:
    return not entry.keys and not entry.subject.startswith((CONTACT, MESSAGE, PROVIDER, ORDER))


def _merged_groups(groups: dict[str, list[Entry]], resolver: Resolver) -> dict[str, list[Entry]]:
    """Groups of contacts merged later in the batch join their survivor's group."""
    merged: dict[str, list[Entry]] = defaultdict(list)
    for contact_id, group in groups.items():
        merged[resolver.current(contact_id)].extend(group)
    return merged


def _by_identity(entry: Entry) -> bool:
    return not entry.subject.startswith((CONTACT, MESSAGE, PROVIDER, ORDER, TALLY))
