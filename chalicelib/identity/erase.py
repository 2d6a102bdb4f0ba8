"""GDPR erasure: a contact and everything that names them, merge tombstones included.

Counters (aggregates) and receipts (messageIds, no contact reference) hold no personal data.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from pynamodb.models import Model

from chalicelib.identity import store
from chalicelib.storage.models import Contact, DateMark, Enrollment, Event, Message


def erase(contact_id: str) -> dict[str, int]:
    """Delete the contact (and the tombstones merged into it); returns what was deleted."""
    tally: Tally[str] = Tally()
    try:
        contact = Contact.get(contact_id, consistent_read=True)
        ids = [contact_id, *sorted(contact.merged_from or ())]
    except Contact.DoesNotExist:
        ids = [contact_id]  # nothing left but maybe stray items: sweep them anyway
    for each in ids:
        tally["identities"] += _delete(store.of_contact(each))
        tally["events"] += _delete(Event.query(each, consistent_read=True))
        tally["enrollments"] += _delete(Enrollment.query(each, consistent_read=True))
        tally["messages"] += _delete(Message.by_contact.query(each))
        if marks := _delete(DateMark.by_contact.query(each)):  # only contacts with dates have any
            tally["date_marks"] += marks
        tally["contacts"] += _delete_contact(each)
    return dict(tally)


def _delete(items: Iterable[Model]) -> int:
    count = 0
    batches: dict[type[Model], list[Model]] = {}
    for item in items:
        batches.setdefault(type(item), []).append(item)
        count += 1
    for model, group in batches.items():
        with model.batch_write() as batch:
            for item in group:
                batch.delete(item)
    return count


def _delete_contact(contact_id: str) -> int:
    try:
        Contact.get(contact_id, consistent_read=True)
    except Contact.DoesNotExist:
        return 0
    Contact(contact_id).delete(add_version_condition=False)
    return 1
