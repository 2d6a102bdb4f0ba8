"""What the engine may know about a contact, read from storage in a few queries.

The snapshot is built only when an input reaches an enrollment or a funnel entry, never for
events no funnel cares about. Addresses, consents and dead addresses come from the channel
layer's reachability, so the engine and delivery agree on who can be reached where.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.channels import reachability
from chalicelib.channels.routing import consented
from chalicelib.core.figures import CONSENT_CHANNELS
from chalicelib.core.state import ContactView, PastEvent
from chalicelib.runtime import parallel
from chalicelib.storage.contacts import events_of, subjects_of
from chalicelib.storage.models import Contact, Identity, Message

HISTORY_EVENTS = 200  # newest events branch conditions may look at
ALWAYS_REACHABLE = ("webhook", "outbox")  # need no address of the contact's


@dataclass(frozen=True)
class ContactSnapshot:
    view: ContactView
    merged_into: str | None = None
    reach: reachability.Reachability | None = None  # handed to delivery: no second read
    cap_window: timedelta = timedelta(0)  # how far back view.recent_sends reaches
    subjects: tuple[str, ...] = ()  # where its events are filed
    history: bool = True  # view.events read (False: left out until a funnel's condition asks)


def recent_sends(contact_id: str, now: datetime, window: timedelta) -> tuple[datetime, ...]:
    """When messages went to the contact within `window` (for frequency caps), from any
    funnel. Keys only (no status): a failed send still counts, erring on the side of sending
    less. No window (no cap applies): no read at all."""
    if window <= timedelta(0):
        return ()
    return tuple(
        key.created_at
        for key in Message.by_contact.query(contact_id, Message.created_at >= now - window)
    )


def with_window(snapshot: ContactSnapshot, now: datetime, window: timedelta) -> ContactSnapshot:
    """The snapshot with sends reaching back at least `window` (re-read only if needed)."""
    if window <= snapshot.cap_window:
        return snapshot
    sends = recent_sends(snapshot.view.contact_id, now, window)
    view = replace(snapshot.view, recent_sends=sends)
    return replace(snapshot, view=view, cap_window=window)


def with_history(snapshot: ContactSnapshot, now: datetime) -> ContactSnapshot:
    """The snapshot with the contact's event history (read only if it was left out)."""
    if snapshot.history:
        return snapshot
    events = _events(snapshot.subjects, now)
    return replace(snapshot, view=replace(snapshot.view, events=tuple(events)), history=True)


def load_snapshot(
    contact_id: str, now: datetime, cap_window: timedelta = timedelta(0), history: bool = True
) -> ContactSnapshot:
    """`history` False leaves the event history out (a Query per subject) until
    `with_history` asks for it: most funnels' conditions never look at past events."""
    try:
        contact: Contact | None = Contact.get(contact_id)
    except Contact.DoesNotExist:
        contact = None
    identities = list(Identity.by_contact.query(contact_id))
    sends = recent_sends(contact_id, now, cap_window)
    subjects = tuple(subjects_of(contact, contact_id, [item.identity for item in identities]))
    events = _events(subjects, now) if history else []
    snapshot = _snapshot(contact_id, contact, identities, events, sends, cap_window)
    return replace(snapshot, subjects=subjects, history=history)


def load_snapshots(
    contact_ids: Sequence[str],
    now: datetime,
    *,
    events: bool,
    addresses: bool,
    workers: int = 1,
) -> dict[str, ContactSnapshot]:
    """Snapshots of a job's page of contacts: profiles in BatchGetItem requests, the event
    history and addresses only when the job's conditions read them (a Query per contact and
    subject each, on `workers` threads), never the recent sends (caps concern funnel sends, not
    conditions)."""
    contacts = {contact.contact_id: contact for contact in Contact.batch_get(list(contact_ids))}

    def snapshot(contact_id: str) -> ContactSnapshot:
        contact = contacts.get(contact_id)
        identities = list(Identity.by_contact.query(contact_id)) if addresses or events else []
        history = _history(contact, contact_id, identities, now) if events else []
        return _snapshot(
            contact_id, contact, identities if addresses else [], history, (), timedelta(0)
        )

    return dict(zip(contact_ids, parallel.each(snapshot, contact_ids, workers), strict=True))


def _history(
    contact: Contact | None, contact_id: str, identities: list[Identity], now: datetime
) -> list[PastEvent]:
    """The newest events filed under the contact's identities and its own subjects."""
    subjects = subjects_of(contact, contact_id, [item.identity for item in identities])
    return _events(subjects, now)


def _events(subjects: Sequence[str], now: datetime) -> list[PastEvent]:
    events = [
        PastEvent(event.name, event.properties.as_dict(), event.timestamp)
        for event in events_of(subjects, now, HISTORY_EVENTS)
    ]
    events.reverse()
    return events


def _snapshot(
    contact_id: str,
    contact: Contact | None,
    identities: list[Identity],
    events: list[PastEvent],
    sends: tuple[datetime, ...],
    cap_window: timedelta,
) -> ContactSnapshot:
    reach = reachability.from_records(contact, identities, contact_id)
    attributes = _plain(contact.attributes) if contact else {}
    reachable = set(reach.addresses) - reach.unreachable
    view = ContactView(
        contact_id=contact_id,
        attributes=attributes,
        tags=frozenset(contact.tags or ()) if contact else frozenset(),
        timezone=reach.timezone or attributes.get("timezone"),
        consents={channel: consented(reach.consents, channel) for channel in reach.consents},
        reachable_channels=frozenset((*reachable, *ALWAYS_REACHABLE)),
        events=tuple(events),
        segments=frozenset(attributes.get("segments") or ()),
        rfm_segment=attributes.get("rfm_segment"),
        recent_sends=sends,
        figures=figures_of(contact, reach) if contact else {},
    )
    return ContactSnapshot(view, contact.merged_into if contact else None, reach, cap_window)


def figures_of(contact: Contact, reach: reachability.Reachability) -> dict[str, Any]:
    """What the system keeps about the contact (core/figures.py), as conditions see it."""
    spent = _number(contact.total_spent)
    found: dict[str, Any] = {
        "orders_count": int(contact.orders_count or 0),
        "total_spent": spent,
        "lifetime_value": spent,
        "last_order_at": _iso(contact.last_order_at),
        "first_seen": _iso(contact.first_seen),
        "last_seen": _iso(contact.last_seen),
        "sessions": int(contact.sessions or 0),
        "page_views": int(contact.page_views or 0),
        "first_touch": _plain(contact.first_touch) or None,
        "last_touch": _plain(contact.last_touch) or None,
        "rfm_segment": (_plain(contact.attributes) or {}).get("rfm_segment"),
        "consents": {ch: consented(reach.consents, ch) for ch in CONSENT_CHANNELS},
        "timezone": reach.timezone,
    }
    return {name: value for name, value in found.items() if value is not None}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _number(value: Any) -> int | float:
    number = float(value or 0)
    return int(number) if number.is_integer() else number


def _plain(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    return value.as_dict() if hasattr(value, "as_dict") else dict(value)
