"""A contact's entries of one batch: the profile updated once (counters, firsts and lasts,
traits, touches), consent changes applied, and the events funnels and analytics see.

An identify whose new traits would take the contact past its cap (`ingest.limits`) is refused
here, where the contact is known: its traits are not applied, funnels and analytics do not see
it, and a `traits_refused` event on the contact's timeline says so (the route had already
answered, so this is where the refusal is recorded)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chalicelib import observability
from chalicelib.core import trust
from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import CONSENT, STATUS, VERIFIED, Entry, contact_subject
from chalicelib.eventlog.stream import position_key
from chalicelib.events import StoredEvent
from chalicelib.ingest import limits, profile_store
from chalicelib.ingest.spec import CALL_TYPES
from chalicelib.runtime.listening import Listening
from chalicelib.storage.errors import ConflictError
from chalicelib.storage.models import Event
from chalicelib.tracking import consent, opt_in

TRAITS_REFUSED = "traits_refused"


@dataclass(frozen=True)
class Handled:
    events: list[StoredEvent]  # for analytics and the funnels, in order
    fresh: bool | None  # these entries began the contact's profile (None: not known)
    listening: Listening | None = None  # as the profile update found it (None: not known)


def apply(contact_id: str, entries: Sequence[Entry], created: bool, now: datetime) -> Handled:
    """What came in updates the profile; what the worker derived about the contact
    (subject "contact:…": merges, segment changes, opt-outs) only reaches analytics and funnels."""
    ordered = sorted(entries, key=lambda entry: (entry.timestamp, entry.position))
    calls = [e for e in ordered if e.type in CALL_TYPES and e.contact_id is None]
    refused: set[tuple[str, str]] = set()
    fresh: bool | None = None
    listens: Listening | None = None
    if calls:
        profile = _apply_profile(contact_id, calls, created)
        contact_id, fresh, listens = profile.contact_id, profile.fresh, profile.listening
        if profile.refused:
            _record_refusals(contact_id, profile.refused, now)
        refused = {(entry.subject, entry.event_id) for entry, _ in profile.refused}
    stored: list[StoredEvent] = []
    for entry in ordered:
        if entry.type == STATUS or (entry.subject, entry.event_id) in refused:
            continue  # feedback on a message (worker.feedback); traits the contact cannot take
        if entry.type == CONSENT:
            if not entry.verified:
                continue
            _consent(contact_id, entry)
        stored.append(stored_event(contact_id, entry))
    return Handled(stored, fresh, listens)


@dataclass(frozen=True)
class Profile:
    contact_id: str
    refused: list[tuple[Entry, limits.Limit]]
    fresh: bool | None  # this batch began the profile (None: not known, e.g. handled before)
    listening: Listening | None = None


def _apply_profile(contact_id: str, calls: list[Entry], created: bool) -> Profile:
    """One update with the calls not applied yet: a redelivered batch's calls find the contact
    has seen their log positions and add nothing (counters included); those refused then are
    known by the refusal they left in the log."""
    refused: list[tuple[Entry, limits.Limit]] = []
    for _ in range(3):
        try:
            fitted = profile_store.apply_fitting(contact_id, calls, created, _guards(calls))
            fresh = fitted.fresh if not refused else None
            return Profile(fitted.contact_id, refused + fitted.refused, fresh, fitted.listening)
        except profile_store.AlreadyApplied as applied:
            contact_id, created = applied.contact_id, False
            done = [c for c in calls if _position(c) <= applied.seen.get(guard_name(c.subject), "")]
            refused += _refused_before(contact_id, done)
            calls = [c for c in calls if c not in done]
            if not calls:
                return Profile(contact_id, refused, None)
    raise ConflictError(f"contact {contact_id}: applied elsewhere meanwhile")


def _refused_before(contact_id: str, calls: Sequence[Entry]) -> list[tuple[Entry, limits.Limit]]:
    """Which of the calls an earlier delivery refused (their traits_refused events)."""
    identifies = {_refusal_id(c): c for c in calls if c.type == "identify"}
    if not identifies:
        return []
    subject = contact_subject(contact_id)
    found = Event.batch_get([(subject, event_id) for event_id in identifies])
    by_name = {limit.name: limit for limit in (limits.TRAITS_PER_CONTACT, limits.PROFILE_BYTES)}
    return [
        (
            identifies[item.event_id],
            by_name.get(str(item.properties["limit"]), limits.PROFILE_BYTES),
        )
        for item in found
    ]


def _refusal_id(entry: Entry) -> str:
    return f"{TRAITS_REFUSED}:{entry.subject}:{entry.event_id}"


def guard_name(subject: str) -> str:
    """The contact's record of a subject's last applied position (short: every update sets it)."""
    return "s" + hashlib.sha256(subject.encode()).hexdigest()[:10]


def _position(entry: Entry) -> str:
    return position_key(entry.position) if entry.position else ""


def _guards(calls: Sequence[Entry]) -> dict[str, tuple[str, str]]:
    """(first, last) log position of the calls under each subject (entries read back from the
    stream; others, e.g. replayed by hand, carry none and are not guarded)."""
    positions: dict[str, list[str]] = defaultdict(list)
    for call in calls:
        if call.position:
            positions[guard_name(call.subject)].append(_position(call))
    return {name: (min(found), max(found)) for name, found in positions.items()}


def stored_event(contact_id: str, entry: Entry) -> StoredEvent:
    return StoredEvent(
        contact_id=contact_id,
        event_id=entry.event_id,
        type="track" if entry.type == CONSENT else entry.type,
        name=entry.name,
        timestamp=entry.timestamp,
        properties=entry.properties,
        context=entry.context,
        source=entry.source,
        trust=entry.trust,
        position=entry.position,
    )


def _consent(contact_id: str, entry: Entry) -> None:
    """A channel's (`subscribed`/`unsubscribed`) or a topic's (`topic_subscribed`/...: the
    channel is then "topic:<name>") opt-in or opt-out."""
    channel = str(entry.properties.get("channel") or "")
    if not channel:
        return
    granted = entry.name in ("subscribed", "topic_subscribed")
    channels = [channel]
    if entry.name == "subscribed" and entry.trust == trust.PROVIDER:
        # A YES texted from the number: it is theirs (proven), and it answers our confirmation.
        channels += opt_in.confirmed(contact_id, entry.lookup)
    for name in dict.fromkeys(channels):
        consent.set_consent(contact_id, name, granted, source=entry.source, at=entry.timestamp)


def _record_refusals(
    contact_id: str, refusals: Sequence[tuple[Entry, limits.Limit]], now: datetime
) -> None:
    """One `traits_refused` event per refused identify, keyed by it: a redelivered batch
    records nothing twice."""
    entries = []
    for entry, limit in refusals:
        observability.traits_refused(limit.name, contact_id, entry.event_id)
        entries.append(
            Entry(
                subject=contact_subject(contact_id),
                event_id=_refusal_id(entry),
                type="track",
                name=TRAITS_REFUSED,
                timestamp=entry.timestamp,
                properties={
                    "limit": limit.name,
                    "refused_event": entry.event_id,
                    "traits": sorted(limits.profile_traits(entry.traits))[:20],
                    "error": limits.refusal_message(limit),
                },
                source="worker",
                trust=VERIFIED,
            )
        )
    append(entries, now)
