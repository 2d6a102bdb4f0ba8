"""One entry of the log, and the subjects entries are filed under.

The subject is the item's partition key: the identity key the event came in under (the
strongest one it carries, e.g. "user:u1" or "anon:…"), or "contact:{id}" for what the worker
derives about a known contact, "message:{id}" for a provider's feedback on one of our messages,
"order:{shop}:{id}" for an order event that names no buyer, "tally:{lane}" for analytics'
per-batch figures. Entries of one subject are one DynamoDB partition: they reach the stream in
the order they were written, and a contact's timeline is the union of its subjects.

`trust` carries how much the source proves (chalicelib.core.trust names the levels): a call
with the public write key is a claim; a server key, an identity hash (with `anchor`, the
identity it proves), a signed shop, messenger or provider webhook, the admin API and the worker
itself are proof, each of what it proves. The worker applies the rules where identities resolve.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.core import trust
from chalicelib.identity.keys import strength

CLAIM = trust.CLAIM
VERIFIED = trust.INTERNAL  # what the system itself derived or signed (a click, a merge...)
_LEGACY = {"verified": trust.INTERNAL}  # entries stored before the trust levels had names
CONTACT, MESSAGE, PROVIDER, ORDER, TALLY = "contact:", "message:", "provider:", "order:", "tally:"
# Entry types besides the Segment calls (track, identify, page, screen, group, alias):
STATUS = "status"  # a provider's (or a click's) news about one of our messages
CONSENT = "consent"  # a person's opt-out or opt-in (name: unsubscribed | subscribed)


@dataclass(frozen=True)
class Entry:
    subject: str
    event_id: str  # unique within the subject: a redelivery with the same id is a duplicate
    type: str  # track | identify | page | screen | group | alias | status | consent | tally
    name: str  # the event funnels match on ("cart_updated", "page_viewed", "delivered"...)
    timestamp: datetime  # when it happened (aware, UTC)
    properties: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = ()  # identity keys the event carries (claimed for its contact)
    lookup: tuple[str, ...] = ()  # identity keys only looked up (alias's previousId)
    source: str = "api"
    trust: str = CLAIM
    anchor: str | None = None  # the identity key an identity hash proved
    received_at: datetime | None = None
    correlation: str = ""  # the request that stored it (chalicelib.observability)
    position: str = ""  # the stream's sequence number, once read back from the stream
    # Set by the worker's identity resolution: False when the trust rules keep its traits and
    # consents off the contact it landed on (a claim about a known person, or somebody else).
    changes: bool = True

    @property
    def traits(self) -> dict[str, Any]:
        """An identify call's traits are its properties."""
        return self.properties if self.type == "identify" else {}

    @property
    def verified(self) -> bool:
        """Anything but a claim: its source proves something."""
        return self.trust != CLAIM

    @property
    def contact_id(self) -> str | None:
        """The contact a derived entry names directly (subject "contact:{id}")."""
        return self.subject.removeprefix(CONTACT) if self.subject.startswith(CONTACT) else None


def trust_level(stored: str) -> str:
    return _LEGACY.get(stored, stored)


def identity_subject(keys: Iterable[str], level: str = trust.INTERNAL) -> str:
    """The strongest of an event's identity keys: the same call always files the same way. A
    claim is filed under the visitor's own id (its anonymous id, else its user id): an email it
    names is no proof, and somebody else's timeline and history must not show it."""
    keys = list(keys)
    if level == CLAIM:
        own = [key for key in keys if key.startswith(("anon:", "user:"))]
        if own:
            return min(own, key=lambda key: (key.startswith("user:"), key))
    return min(keys, key=lambda key: (strength(key), key))


def contact_subject(contact_id: str) -> str:
    return f"{CONTACT}{contact_id}"


def message_subject(message_id: str) -> str:
    return f"{MESSAGE}{message_id}"


def namespaced(namespace: str, source_id: str) -> str:
    """An event id scoped by where it came from ("segment" with the site's key, "shopify:…"):
    two sites' ids never collide, and a write key is never copied into the table."""
    digest = hashlib.sha256(namespace.encode()).hexdigest()[:10]
    return f"{digest}:{source_id}"
