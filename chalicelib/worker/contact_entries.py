"""A contact's entries of one batch: the profile updated once (counters, firsts and lasts,
traits, touches), consent changes applied, and the events funnels and analytics see.

An identify whose new traits would take the contact past its cap (`ingest.limits`) is refused
here, where the contact is known: its traits are not applied, funnels and analytics do not see
it, and a `traits_refused` event on the contact's timeline says so (the route had already
answered, so this is where the refusal is recorded)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chalicelib import observability
from chalicelib.core import trust
from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import CONSENT, STATUS, VERIFIED, Entry, contact_subject
from chalicelib.events import StoredEvent
from chalicelib.ingest import limits, profile_store
from chalicelib.ingest.spec import CALL_TYPES
from chalicelib.tracking import consent, opt_in

TRAITS_REFUSED = "traits_refused"


def apply(
    contact_id: str, entries: Sequence[Entry], created: bool, now: datetime
) -> list[StoredEvent]:
    """What came in updates the profile; what the worker derived about the contact
    (subject "contact:…": merges, segment changes, opt-outs) only reaches analytics and funnels.
    Returns the events for analytics and the funnels, in order."""
    ordered = sorted(entries, key=lambda entry: (entry.timestamp, entry.position))
    calls = [e for e in ordered if e.type in CALL_TYPES and e.contact_id is None]
    refused: set[tuple[str, str]] = set()
    if calls:
        contact_id, refusals = profile_store.apply_fitting(contact_id, calls, created)
        if refusals:
            _record_refusals(contact_id, refusals, now)
        refused = {(entry.subject, entry.event_id) for entry, _ in refusals}
    stored: list[StoredEvent] = []
    for entry in ordered:
        if entry.type == STATUS or (entry.subject, entry.event_id) in refused:
            continue  # feedback on a message (worker.feedback); traits the contact cannot take
        if entry.type == CONSENT:
            if not entry.verified:
                continue
            _consent(contact_id, entry)
        stored.append(stored_event(contact_id, entry))
    return stored


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
                event_id=f"{TRAITS_REFUSED}:{entry.subject}:{entry.event_id}",
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
