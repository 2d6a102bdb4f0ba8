"""Reading messages through their keys-only indexes (small indexes: a status change or a large
body never rewrites them), then fetching the items in one batch."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.storage.models import Message


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
