"""Store a request's valid calls once each and hand the new events to the funnels.

Per request: one conditional put per call (the messageId receipt), one BatchGetItem for the
identities, a put per identity never seen before, one UpdateItem per contact, and the events in
BatchWriteItem requests of 25. Merges (rare) cost more and are recorded as `contact_merged`.

A contact at its trait cap (`limits`) refuses the identifies that would add traits past it;
they are reported in `Outcome.refused` and nothing of them is stored, while the request's other
calls are.
"""

from __future__ import annotations

import dataclasses
import logging
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
from chalicelib.ingest.profile import opt_in_channels
from chalicelib.ingest.spec import Call
from chalicelib.storage.contacts import event_item, save_events
from chalicelib.tracking import opt_in

log = logging.getLogger(__name__)


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
        resolved = _store(fresh, settings, now, outcome, source)
    except BaseException:
        receipts.release(claimed)  # nothing half-stored is remembered: a retry stores it all
        raise
    if outcome.refused:  # not stored: the same call may come back once the profile has room
        receipts.release(
            receipts.receipt_key(write_key, call.message_id) for call, _ in outcome.refused
        )
    observability.events_in(len(outcome.stored), source)
    _confirm_numbers(resolved, outcome, settings, now)
    wiring.event_sink().handle(outcome.stored)
    return outcome


def _confirm_numbers(
    calls: list[Call], outcome: Outcome, settings: Settings, now: datetime
) -> None:
    """A claimed SMS or WhatsApp consent becomes a confirmation text (double opt-in). Never
    fails the request: the events are stored, and the sweeper retries a pending text."""
    landed = {event.event_id: event.contact_id for event in outcome.stored}
    asked: dict[str, set[str]] = defaultdict(set)
    for call in calls:
        channels = opt_in_channels(call)
        if channels and call.message_id in landed:
            asked[landed[call.message_id]] |= channels
    for contact_id, channels in asked.items():
        try:
            opt_in.request(contact_id, channels, now, settings, wiring.dispatcher())
        except Exception:
            log.exception("could not ask %s to confirm its number", contact_id)


def _store(
    calls: list[Call], settings: Settings, now: datetime, outcome: Outcome, source: str
) -> list[Call]:
    """Store the calls; returns them as resolved (`changes` set by the trust rules)."""
    retention = timedelta(days=settings.event_retention_days)
    calls = sorted(calls, key=lambda call: call.timestamp)
    identities = [identities_of(call, settings.phone_region) for call in calls]
    resolver = Resolver(now, retention)
    resolver.prefetch(key for found in identities for key in found.keys)
    owners = []
    for index, (call, found) in enumerate(zip(calls, identities, strict=True)):
        resolved = resolver.resolve_call(found.keys, found.lookup_only, call.trust, call.anchor)
        owners.append(resolved.contact_id)
        if not resolved.changes:  # a claim about somebody else: stored, but changes nothing
            calls[index] = dataclasses.replace(call, changes=False)

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
            trust=call.trust,
        )
        for contact_id, call in zip(final, calls, strict=True)
        if id(call) not in refused_ids
    ]
    save_events(event_item(event, now, retention) for event in stored)
    outcome.merges = len(resolver.merges)
    outcome.stored = [merge.event for merge in resolver.merges] + stored
    return calls
