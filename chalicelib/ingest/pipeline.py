"""Store a request's valid calls once each and hand the new events to the funnels.

Per request: one conditional put per call (the messageId receipt), one BatchGetItem for the
identities, a put per identity never seen before, one UpdateItem per contact, and the events in
BatchWriteItem requests of 25. Merges (rare) cost more and are recorded as `contact_merged`.

A contact at its trait cap (`limits`) refuses the identifies that would add traits past it;
they are reported in `Outcome.refused` and nothing of them is stored, while the request's other
calls are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib import observability, wiring
from chalicelib.config import Settings
from chalicelib.events import StoredEvent
from chalicelib.identity.resolver import Resolver
from chalicelib.ingest import profile_store, receipts
from chalicelib.ingest.identities import identities_of
from chalicelib.ingest.limits import Limit
from chalicelib.ingest.spec import Call
from chalicelib.storage.contacts import event_item, save_events


@dataclass
class Outcome:
    stored: list[StoredEvent] = field(default_factory=list)
    duplicates: int = 0
    merges: int = 0
    refused: list[tuple[Call, Limit]] = field(default_factory=list)  # over a contact's cap


def ingest(
    calls: Sequence[Call],
    write_key: str,
    settings: Settings,
    now: datetime,
    source: str = "segment",
) -> Outcome:
    """`write_key` namespaces the messageIds (a site's key, or a webhook source such as
    "shopify:shop.myshopify.com"); `source` is recorded on each stored event."""
    outcome = Outcome()
    fresh: list[Call] = []
    claimed: list[str] = []
    window = timedelta(days=settings.dedupe_window_days)
    seen: set[str] = set()
    for call in calls:
        key = receipts.receipt_key(write_key, call.message_id)
        if key in seen or not receipts.claim(key, now, window):
            outcome.duplicates += 1
            continue
        seen.add(key)
        claimed.append(key)
        fresh.append(call)
    if not fresh:
        return outcome
    try:
        _store(fresh, settings, now, outcome, source)
    except BaseException:
        receipts.release(claimed)  # nothing half-stored is remembered: a retry stores it all
        raise
    if outcome.refused:  # not stored: the same call may come back once the profile has room
        receipts.release(
            receipts.receipt_key(write_key, call.message_id) for call, _ in outcome.refused
        )
    observability.events_in(len(outcome.stored), source)
    wiring.event_sink().handle(outcome.stored)
    return outcome


def _store(
    calls: list[Call], settings: Settings, now: datetime, outcome: Outcome, source: str
) -> None:
    retention = timedelta(days=settings.event_retention_days)
    calls = sorted(calls, key=lambda call: call.timestamp)
    identities = [identities_of(call, settings.phone_region) for call in calls]
    resolver = Resolver(now, retention)
    resolver.prefetch(key for found in identities for key in found.keys)
    owners = [resolver.resolve(found.keys, found.lookup_only) for found in identities]

    # One profile update per contact (after this request's merges), following any tombstone.
    final = [resolver.current(owner) for owner in owners]
    calls_of: dict[str, list[Call]] = defaultdict(list)
    for contact_id, call in zip(final, calls, strict=True):
        calls_of[contact_id].append(call)
    landed: dict[str, str] = {}
    for contact_id, contact_calls in calls_of.items():
        created = contact_id in resolver.created
        landed[contact_id], refused = profile_store.apply_fitting(
            contact_id, contact_calls, created
        )
        outcome.refused += refused
    refused_ids = {id(call) for call, _ in outcome.refused}

    stored = [
        StoredEvent(
            contact_id=landed[contact_id],
            event_id=call.message_id,
            type=call.type,
            name=call.name,
            timestamp=call.timestamp,
            properties=call.properties,
            context=call.context,
            source=source,
        )
        for contact_id, call in zip(final, calls, strict=True)
        if id(call) not in refused_ids
    ]
    save_events(event_item(event, now, retention) for event in stored)
    outcome.merges = len(resolver.merges)
    outcome.stored = [merge.event for merge in resolver.merges] + stored
