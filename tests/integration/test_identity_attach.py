"""An email or phone a funnel stored (a wait_reply answer) becomes the contact's identity; when
another contact already owns it, the two people-records merge into one."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.config import Settings
from chalicelib.identity import store
from chalicelib.identity.attach import attach
from chalicelib.storage.models import Contact

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def person(contact_id: str, *keys: str) -> None:
    Contact(contact_id, first_seen=NOW, last_seen=NOW).save()
    for key in keys:
        store.claim(key, contact_id, NOW)


def test_a_new_email_is_claimed_for_the_chat_contact(settings: Settings) -> None:
    person("c_chat", "telegram:1")
    assert attach("c_chat", {"email": "Olga@Example.com", "phone": "not a phone"}, NOW) == []
    assert store.owner("email:olga@example.com") == "c_chat"


def test_an_email_someone_else_owns_merges_only_when_allowed(settings: Settings) -> None:
    person("c_site", "anon:v1", "email:olga@example.com")
    person("c_chat", "telegram:1")
    assert attach("c_chat", {"email": "olga@example.com"}, NOW, merge=False) == []
    assert store.owner("telegram:1") == "c_chat"  # nothing moved yet

    [merged] = attach("c_chat", {"email": "olga@example.com"}, NOW)
    assert merged.name == "contact_merged"
    # The email is the stronger identity: its contact survives and takes the chat.
    assert merged.contact_id == "c_site"
    assert store.owner("telegram:1") == "c_site"
    assert Contact.get("c_chat").merged_into == "c_site"


def test_an_answer_naming_a_known_customers_email_takes_nothing_of_theirs(
    settings: Settings,
) -> None:
    """A reply in a chat is a claim: a customer a shop webhook proved keeps their email, and
    the chat never joins their contact (it would take over their messages)."""
    Contact("c_customer", first_seen=NOW).save()
    store.claim("email:vera@example.com", "c_customer", NOW, proof="shop")
    person("c_chat", "telegram:1")
    assert attach("c_chat", {"email": "vera@example.com"}, NOW) == []
    assert store.owner("email:vera@example.com") == "c_customer"
    assert store.owner("telegram:1") == "c_chat"
    assert Contact.get("c_customer").merged_into is None
