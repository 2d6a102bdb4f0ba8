"""Reading messages through their keys-only indexes (small indexes: a status change or a large
body never rewrites them), then fetching the items in one batch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.storage.models import Message, MessageBody

APART = "_apart"  # the names of the content's fields its MessageBody keeps
BODY_OVER = 2048  # characters of JSON: a content this large keeps its long fields apart
LONG = 256  # characters of JSON: a field this long goes apart (the subject stays)


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


def split_content(content: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What a sent message keeps of its rendered content, and what its MessageBody holds
    (None: the content is small and stays whole on the message)."""
    if len(_json(content)) <= BODY_OVER:
        return dict(content), None
    apart = {name: value for name, value in content.items() if len(_json(value)) > LONG}
    kept = {name: value for name, value in content.items() if name not in apart}
    return {**kept, APART: sorted(apart)}, apart


def content_of(message: Message) -> dict[str, Any]:
    """The message's whole content: what it keeps, with the fields its body holds."""
    content = dict(message.content or {})
    names = content.pop(APART, None)
    if not names:
        return content
    try:
        body = MessageBody.get(message.message_id).content or {}
    except MessageBody.DoesNotExist:
        body = {}
    return {**content, **{name: body[name] for name in names if name in body}}


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
