"""Applying an `update` step to the contact's profile (attributes and tags)."""

from __future__ import annotations

from datetime import datetime

from chalicelib.core.decisions import UpdateProfile
from chalicelib.identity.attach import IDENTITY_ATTRIBUTES, attach
from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.models import Contact


def apply_profile_update(contact_id: str, update: UpdateProfile, attempts: int = 5) -> None:
    """Read-modify-write under the contact's version attribute; setting a value twice is
    harmless, so a retry after a conflict (or a repeated step) changes nothing more."""
    for _ in range(attempts):
        try:
            contact = Contact.get(contact_id, consistent_read=True)
        except Contact.DoesNotExist:
            contact = Contact(contact_id=contact_id)
        attributes = contact.attributes.as_dict() if contact.attributes else {}
        attributes.update(update.set)
        for name in update.unset:
            attributes.pop(name, None)
        tags = (set(contact.tags or ()) | set(update.add_tags)) - set(update.remove_tags)
        contact.attributes = attributes
        contact.tags = tags or None
        try:
            with conflicts_as_domain_errors(f"update profile {contact_id}"):
                contact.save()
            return
        except ConflictError:
            continue
    raise ConflictError(f"update profile {contact_id}: too many concurrent changes")


def claim_identities(
    contact_id: str,
    update: UpdateProfile,
    now: datetime,
    phone_region: str = "",
    merge: bool = True,
) -> None:
    """An email or phone a funnel stored (a `wait_reply` answer) becomes an identity of the
    contact, so the next step can send to it; with `merge`, a contact that already owned it
    merges with this one (its `contact_merged` event goes to the log like any merge's)."""
    if any(name in update.set for name in IDENTITY_ATTRIBUTES):
        attach(contact_id, update.set, now, phone_region, merge)
