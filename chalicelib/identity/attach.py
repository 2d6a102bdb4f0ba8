"""Attributes that are identities (email, phone), when a funnel sets them (a `wait_reply`
answer, an `update` step), become the contact's identity keys too, so a later shop order with
that email lands on the same person. Resolution is ingestion's own, with the trust of the
contact's own answer: a contact that already owns the key merges into this one only if it
holds nothing proven."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime
from typing import Any

from chalicelib.core import trust
from chalicelib.events import StoredEvent
from chalicelib.identity import store
from chalicelib.identity.keys import InvalidIdentity, identity_key
from chalicelib.identity.resolver import Resolver
from chalicelib.storage.errors import ConflictError

IDENTITY_ATTRIBUTES = ("email", "phone")


def attach(
    contact_id: str,
    values: Mapping[str, Any],
    now: datetime,
    phone_region: str = "",
    merge: bool = True,
) -> list[StoredEvent]:
    """Claim the keys for the contact; returns the `contact_merged` events of any merge (each
    also appended to the log, where the worker hands it to analytics and the funnels).
    `merge=False` claims only keys nobody owns (cheap, and safe while a step is being carried
    out); a key another contact owns is then left for a later `merge=True` call."""
    keys: list[str] = []
    for kind in IDENTITY_ATTRIBUTES:
        value = values.get(kind)
        if isinstance(value, str) and value:
            with suppress(InvalidIdentity):  # kept as an attribute; it identifies nobody
                keys.append(identity_key(kind, value, phone_region))
    own = [item.identity for item in store.of_contact(contact_id)]
    new = [key for key in keys if key not in own]
    if not new:
        return []
    if not own or not merge:  # (no own key: enrolled by API, nothing to merge on)
        for key in new:
            with suppress(ConflictError):
                store.claim(key, contact_id, now)
        return []
    # The person's own answer (a reply in its chat) is theirs, but proves nothing: a contact
    # that owned the address merges in only if it holds nothing proven (chalicelib.core.trust).
    resolver = Resolver(now)
    resolver.resolve_call(new, trust_level=trust.CONTACT, home=contact_id)
    return [merge.event for merge in resolver.merges]
