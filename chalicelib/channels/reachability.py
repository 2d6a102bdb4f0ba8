"""What routing needs to know about one contact, read with one GetItem and one Query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.channels.routing import ADDRESS_KINDS
from chalicelib.core.trust import DOUBLE_OPT_IN
from chalicelib.storage.models import Contact, Identity


@dataclass
class Reachability:
    contact_id: str
    addresses: dict[str, str] = field(default_factory=dict)  # channel -> address
    consents: dict[str, Any] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)  # channels whose address is dead
    window_until: dict[str, datetime] = field(default_factory=dict)  # Meta 24-hour windows
    unconfirmed: dict[str, str] = field(default_factory=dict)  # channel -> a claimed number
    timezone: str | None = None

    @property
    def phone(self) -> str | None:
        return self.addresses.get("sms") or self.addresses.get("whatsapp")


def plain(value: Any) -> Any:
    """A raw MapAttribute (Contact.consents) as plain dicts."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return value


def from_records(
    contact: Contact | None, identities: list[Identity], contact_id: str
) -> Reachability:
    # Several identities of one kind (two emails): a reachable one wins, then a proven one (a
    # claim never takes over a send address a trusted source gave), then the newest.
    ordered = sorted(
        identities,
        key=lambda identity: (not identity.unreachable, bool(identity.proof), identity.created_at),
    )
    by_kind = {identity.kind: identity for identity in ordered}
    proven_by_kind = {identity.kind: identity for identity in ordered if identity.proof}
    result = Reachability(contact_id)
    if contact is not None:
        result.consents = dict(plain(contact.consents) or {})
        result.timezone = contact.timezone
    for channel, kinds in ADDRESS_KINDS.items():
        # Texts go only to numbers a trusted source or the person's YES proved: a claimed number
        # gets a confirmation first (SMS pumping: chalicelib.tracking.opt_in).
        found = proven_by_kind if channel in DOUBLE_OPT_IN else by_kind
        identity = next((found[kind] for kind in kinds if kind in found), None)
        if identity is None:
            unconfirmed = next((by_kind[kind] for kind in kinds if kind in by_kind), None)
            if unconfirmed is not None:
                result.unconfirmed[channel] = unconfirmed.value
            continue
        result.addresses[channel] = identity.value
        if identity.unreachable:
            result.unreachable.add(channel)
        if identity.window_until is not None:
            result.window_until[channel] = identity.window_until
    return result


def load(contact_id: str) -> Reachability:
    try:
        contact: Contact | None = Contact.get(contact_id)
    except Contact.DoesNotExist:
        contact = None
    identities = list(Identity.by_contact.query(contact_id))
    return from_records(contact, identities, contact_id)
