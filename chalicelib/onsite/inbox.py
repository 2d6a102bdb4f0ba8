"""A contact's on-site inbox: the on-site messages sent and not yet shown, found with one Query
on the sparse `by_onsite` index (messages leave it when shown or expired, so it stays tiny).

    enter(message, content, now) -> update actions that put a sent message in the inbox
    waiting(contact_id, now) -> the messages to show, oldest first
    leave(message) -> take it out (shown)
    expire(message_id, now, record) -> drop one not shown in time, recording `expired` (the
                                       sweeper's pass over `by_onsite_expiry`)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.core.funnel import ONSITE_EXPIRY
from chalicelib.storage.models import Message

log = logging.getLogger(__name__)
SHARDS = 4
SHOWN_AT_ONCE = 3  # more waiting than this: the rest come with the next poll
EXPIRED = "expired"

Record = Callable[..., bool]  # tracking.message_status.record


def shard(message_id: str) -> str:
    return f"o{int(hashlib.sha256(message_id.encode()).hexdigest()[:8], 16) % SHARDS}"


def enter(message: Message, content: Mapping[str, Any], now: datetime) -> list[Any]:
    seconds = content.get("expires_in")
    window = timedelta(seconds=int(seconds)) if seconds else ONSITE_EXPIRY
    return [
        Message.onsite_inbox.set(message.contact_id),
        Message.onsite_shard.set(shard(message.message_id)),
        Message.expires_at.set(now + window),
    ]


def waiting(contact_id: str, now: datetime) -> list[Message]:
    found = Message.by_onsite.query(contact_id, Message.expires_at > now, limit=SHOWN_AT_ONCE)
    return sorted(found, key=lambda message: message.created_at)


def leave(message: Message) -> bool:
    """Out of the inbox (once: a second tab reporting the same message changes nothing)."""
    try:
        message.update(
            actions=[Message.onsite_inbox.remove(), Message.onsite_shard.remove()],
            condition=Message.onsite_inbox.exists(),
            add_version_condition=False,
        )
        return True
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise


def expire(message_id: str, now: datetime, record: Record) -> bool:
    """The sweeper found an on-site message never shown in its window: it becomes `expired`
    (funnels may wait for `shown` and branch on this). False when it was shown meanwhile."""
    try:
        message = Message.get(message_id, consistent_read=True)
    except Message.DoesNotExist:
        return False
    if message.expires_at is None or message.expires_at > now or not leave(message):
        return False
    message.refresh(consistent_read=True)
    record(message, EXPIRED, now)
    return True
