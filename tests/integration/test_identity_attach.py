"""An email or phone a funnel stored (a wait_reply answer) becomes the contact's identity; when
another contact already owns it, the two people-records merge into one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.config import Settings
from chalicelib.identity import store
from chalicelib.identity.attach import attach
from chalicelib.storage.models import Contact

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KEEP = timedelta(days=400)


def person(contact_id: str, *keys: str) -> None:
    Contact(contact_id, first_seen=NOW, last_seen=NOW).save()
    for key in keys:
        store.claim(key, contact_id, NOW)


def test_a_new_email_is_claimed_for_the_chat_contact(settings: Settings) -> None:
    person("c_chat", "telegram:1")
    assert attach("c_chat", {"email": "Olga@Example.com", "phone": "not a phone"}, NOW, KEEP) == []
    assert store.owner("email:olga@example.com") == "c_chat"


def test_an_email_someone_else_owns_merges_only_when_allowed(settings: Settings) -> None:
    person("c_site", "anon:v1", "email:olga@example.com")
    person("c_chat", "telegram:1")
    assert attach("c_chat", {"email": "olga@example.com"}, NOW, KEEP, merge=False) == []
    assert store.owner("telegram:1") == "c_chat"  # nothing moved yet

    [merged] = attach("c_chat", {"email": "olga@example.com"}, NOW, KEEP)
    assert merged.name == "contact_merged"
    # The email is the stronger identity: its contact survives and takes the chat.
    assert merged.contact_id == "c_site"
    assert store.owner("telegram:1") == "c_site"
    assert Contact.get("c_chat").merged_into == "c_site"
