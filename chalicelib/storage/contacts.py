"""Reading contacts as plain data for the API."""

from __future__ import annotations

from typing import Any

from chalicelib.storage.models import Contact


def get_profile(contact_id: str) -> dict[str, Any] | None:
    try:
        contact = Contact.get(contact_id)
    except Contact.DoesNotExist:
        return None
    return profile_of(contact)


def profile_of(contact: Contact) -> dict[str, Any]:
    profile = contact.to_simple_dict()
    profile.pop("version", None)
    return profile
