"""What the engine may know about a contact, read from storage in a few queries.

The snapshot is built only when an input reaches an enrollment or a funnel entry, never for
events no funnel cares about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.state import ContactView, PastEvent
from chalicelib.storage.models import Contact, Event, Identity, Message

HISTORY_EVENTS = 200  # newest events branch conditions may look at
CAP_WINDOW = timedelta(days=7)  # sends counted for per-contact caps

# Which identity kinds reach which channel.
CHANNELS_BY_IDENTITY = {
    "email": ("email",),
    "phone": ("sms", "whatsapp"),
    "whatsapp": ("whatsapp",),
    "telegram": ("telegram",),
    "messenger": ("messenger",),
    "instagram": ("instagram",),
}
ALWAYS_REACHABLE = ("webhook", "onsite", "outbox")


@dataclass(frozen=True)
class ContactSnapshot:
    view: ContactView
    addresses: dict[str, str] = field(default_factory=dict)  # channel -> address
    merged_into: str | None = None


def load_snapshot(contact_id: str, now: datetime) -> ContactSnapshot:
    try:
        contact = Contact.get(contact_id)
    except Contact.DoesNotExist:
        contact = Contact(contact_id=contact_id)
    addresses = _addresses(contact_id)
    events = [
        PastEvent(event.name, event.properties.as_dict(), event.timestamp)
        for event in Event.query(contact_id, scan_index_forward=False, limit=HISTORY_EVENTS)
    ]
    events.reverse()
    # Keys only (no status): a failed send still counts against the cap, erring on the side of
    # sending less.
    sends = tuple(
        key.created_at
        for key in Message.by_contact.query(contact_id, Message.created_at >= now - CAP_WINDOW)
    )
    attributes = _plain(contact.attributes)
    view = ContactView(
        contact_id=contact_id,
        attributes=attributes,
        tags=frozenset(contact.tags or ()),
        timezone=contact.timezone or attributes.get("timezone"),
        consents={
            channel: bool(_plain(consent).get("granted", True))
            for channel, consent in _plain(contact.consents).items()
        },
        reachable_channels=frozenset((*addresses, *ALWAYS_REACHABLE)),
        events=tuple(events),
        segments=frozenset(attributes.get("segments") or ()),
        rfm_segment=attributes.get("rfm_segment"),
        recent_sends=sends,
    )
    return ContactSnapshot(view, addresses, contact.merged_into)


def _addresses(contact_id: str) -> dict[str, str]:
    addresses: dict[str, str] = {}
    for identity in Identity.by_contact.query(contact_id):
        if identity.unreachable:
            continue
        for channel in CHANNELS_BY_IDENTITY.get(identity.kind, ()):
            addresses.setdefault(channel, identity.value)
    return addresses


def _plain(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    return value.as_dict() if hasattr(value, "as_dict") else dict(value)
