"""Identity items: claim by conditional put, look up in bulk, list per contact, repoint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.identity.keys import split_key
from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.models import Identity


def claim(key: str, contact_id: str, now: datetime, proof: str | None = None) -> None:
    """Link an identity to a contact; ConflictError if it already belongs to someone.
    `proof`: the trusted source that proves it (None: a claim)."""
    kind, value = split_key(key)
    item = Identity(key, contact_id=contact_id, kind=kind, value=value, created_at=now, proof=proof)
    with conflicts_as_domain_errors(f"claim identity {kind}"):
        item.save(condition=Identity.identity.does_not_exist())


def prove(key: str, contact_id: str, proof: str) -> bool:
    """A trusted source confirms the contact's identity; False if it is no longer theirs."""
    try:
        with conflicts_as_domain_errors("prove identity"):
            Identity(key).update(
                actions=[Identity.proof.set(proof)], condition=Identity.contact_id == contact_id
            )
    except ConflictError:
        return False
    return True


@dataclass(frozen=True)
class Owner:
    contact_id: str
    proof: str | None


def owners(keys: Iterable[str]) -> dict[str, Owner]:
    """identity key -> its owner for the keys that exist (one BatchGetItem per 100 keys)."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return {}
    return {
        item.identity: Owner(item.contact_id, item.proof) for item in Identity.batch_get(unique)
    }


def owner(key: str) -> str | None:
    try:
        return Identity.get(key, consistent_read=True).contact_id
    except Identity.DoesNotExist:
        return None


def of_contact(contact_id: str) -> list[Identity]:
    return list(Identity.by_contact.query(contact_id))


def repoint(key: str, from_contact: str, to_contact: str) -> bool:
    """Move an identity to another contact unless someone else already moved it."""
    try:
        with conflicts_as_domain_errors("repoint identity"):
            Identity(key).update(
                actions=[Identity.contact_id.set(to_contact)],
                condition=Identity.contact_id == from_contact,
            )
    except ConflictError:
        return False
    return True
