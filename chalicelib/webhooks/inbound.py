"""What a webhook said happened, before identity resolution, and how it is stored: each
`Inbound` becomes a Segment-style call appended to the event log (verified: the webhook was
signed), so webhooks get the same identity resolution, merges, profile counters (orders, total
spent, last order), dedupe and hand-off to analytics and the funnels as the tracking API."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.core.trust import CLAIM
from chalicelib.eventlog.entry import ORDER, Entry, namespaced
from chalicelib.ingest.entries import Unidentified, call_entry
from chalicelib.ingest.spec import MAX_ID_LENGTH, Call, check_storable

log = logging.getLogger(__name__)
IDENTIFY = "identify"


@dataclass(frozen=True)
class Inbound:
    event_id: str  # unique within the source: replays of it are stored once
    name: str  # the event funnels match on; IDENTIFY updates the profile's traits
    at: datetime
    properties: dict[str, Any] = field(default_factory=dict)
    email: str | None = None
    phone: str | None = None  # E.164 where the source gave enough to tell the country
    anonymous_id: str | None = None  # the site visitor's id, passed on by the snippet
    identities: tuple[str, ...] = ()  # keys the verified source vouches for (telegram:…)
    traits: dict[str, Any] = field(default_factory=dict)  # IDENTIFY only


def check(events: Sequence[Inbound]) -> None:
    """CallError for an event DynamoDB could not store (too deep, a number out of range):
    checked before anything of the delivery is written."""
    for event in events:
        check_storable(event.properties, "properties")
        check_storable(event.traits, "traits")


def to_call(event: Inbound, trust: str = CLAIM) -> Call:
    anonymous_id = _visitor(event.anonymous_id)
    contact = {name: value for name, value in (("email", event.email), ("phone", event.phone))}
    contact = {name: value for name, value in contact.items() if value}
    if event.name == IDENTIFY:
        traits = {**event.traits, **contact}
        return Call(
            type="identify",
            message_id=event.event_id,
            name=IDENTIFY,
            timestamp=event.at,
            anonymous_id=anonymous_id,
            traits=traits,
            properties=dict(traits),
            context={"traits": contact} if contact else {},
            identities=event.identities,
            trust=trust,
        )
    return Call(
        type="track",
        message_id=event.event_id,
        name=event.name,
        timestamp=event.at,
        anonymous_id=anonymous_id,
        properties=event.properties,
        context={"traits": contact} if contact else {},  # identifies; not stored as traits
        identities=event.identities,
        trust=trust,
    )


def to_entries(
    events: Sequence[Inbound],
    namespace: str,
    source: str,
    phone_region: str = "",
    *,
    trust: str,
) -> list[Entry]:
    """`namespace` scopes the events' ids (e.g. "shopify:shop-domain"); it also names the shop
    an order came from, so the worker can remember who bought it. `trust`: what the source
    proves (chalicelib.core.trust: a shop, a messenger)."""
    entries = []
    for event in events:
        order_id = event.properties.get("order_id")
        shop = {"shop": namespace} if order_id else {}
        if _identified(event):
            try:
                entries.append(
                    call_entry(
                        to_call(event, trust),
                        namespace,
                        source=source,
                        phone_region=phone_region,
                        context=shop,
                    )
                )
                continue
            except Unidentified:
                pass
        if order_id:  # a refund naming only its order: the worker finds the buyer
            entries.append(
                Entry(
                    subject=f"{ORDER}{namespace}:{order_id}",
                    event_id=namespaced(namespace, event.event_id),
                    type="track",
                    name=event.name,
                    timestamp=event.at,
                    properties=event.properties,
                    context=shop,
                    source=source,
                    trust=trust,
                )
            )
        else:
            log.info("%s: %s %s names nobody; ignored", namespace, event.name, event.event_id)
    return entries


def _identified(event: Inbound) -> bool:
    return bool(event.email or event.phone or event.anonymous_id or event.identities)


def _visitor(anonymous_id: str | None) -> str | None:
    """The site visitor's id as the snippet makes them; anything else identifies nobody."""
    text = (anonymous_id or "").strip()
    return text if 0 < len(text) <= MAX_ID_LENGTH else None
