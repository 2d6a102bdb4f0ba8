"""GDPR erasure: a contact and everything that names them, merge tombstones included.

The contact's events are everything the log files under its identity keys, under
"contact:{id}", and the provider feedback on its messages. Counters (aggregates) hold no
personal data.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from pynamodb.models import Model

from chalicelib.eventlog.entry import contact_subject, message_subject
from chalicelib.identity import store
from chalicelib.storage.messages import APART, decided_by
from chalicelib.storage.models import Contact, DateMark, Enrollment, Event, Message, MessageBody


def erase(contact_id: str) -> dict[str, int]:
    """Delete the contact (and the tombstones merged into it); returns what was deleted."""
    tally: Tally[str] = Tally()
    try:
        contact = Contact.get(contact_id, consistent_read=True)
        ids = [contact_id, *sorted(contact.merged_from or ())]
    except Contact.DoesNotExist:
        ids = [contact_id]  # nothing left but maybe stray items: sweep them anyway
    for each in ids:
        identities = store.of_contact(each)
        enrollments = list(Enrollment.query(each, consistent_read=True))
        listed = {key.message_id for key in Message.by_contact.query(each)}
        # A message is listed on its contact only once its outcome is recorded: the ones a
        # send in flight or a crash left unlisted are found through the enrollments.
        decided = {
            message_id
            for row in enrollments
            for message_id in decided_by(row.enrollment_id, dict(row.state.get("visits") or {}))
        }
        message_ids = sorted(listed | decided)
        messages = list(Message.batch_get(message_ids)) if message_ids else []
        subjects = [
            *(item.identity for item in identities),
            contact_subject(each),
            *(message_subject(m.message_id) for m in messages),
        ]
        for subject in subjects:
            tally["events"] += _delete(Event.query(subject, consistent_read=True))
        tally["identities"] += _delete(identities)
        tally["enrollments"] += _delete(enrollments)
        _delete(MessageBody(m.message_id) for m in messages if APART in (m.content or {}))
        tally["messages"] += _delete(messages)
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
