"""Reading messages through their keys-only indexes (small indexes: a status change or a large
body never rewrites them), then fetching the items in one batch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from chalicelib.storage.models import Message


def message_id_of(idempotency_key: str) -> str:
    """A message's id: derived from the engine's idempotency key, so a step decided twice
    names the same record (and its conditional put fails the second time)."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def decided_by(enrollment_id: str, visits: Mapping[str, int]) -> list[str]:
    """The ids every send an enrollment may have decided would have ("{enrollment_id}:{step}:
    {visit}" for each visit of each step; most name no message). by_contact lists a message
    only once its outcome is recorded, so this finds the ones a crash or a send in flight has
    not listed yet."""
    return [
        message_id_of(f"{enrollment_id}:{step}:{visit}")
        for step, count in visits.items()
        for visit in range(1, int(count) + 1)
    ]


def fetch(keys: Iterable[Message], newest_first: bool = False) -> list[Message]:
    ids = [key.message_id for key in keys]
    messages = list(Message.batch_get(ids)) if ids else []
    return sorted(messages, key=lambda m: m.created_at, reverse=newest_first)


def of_contact(
    contact_id: str, newest_first: bool = False, limit: int | None = None
) -> list[Message]:
    keys = Message.by_contact.query(contact_id, scan_index_forward=not newest_first, limit=limit)
    return fetch(keys, newest_first)


def sent_via(sender: str, limit: int) -> list[Message]:
    keys = Message.by_via.query(sender, scan_index_forward=False, limit=limit)
    return fetch(keys, newest_first=True)
