"""A contact's on-site inbox: the on-site messages sent and not yet shown, found with one Query
on the sparse `by_onsite` index (messages leave it when shown or expired, so it stays tiny).

    enter(message, content, now) -> update actions that put a sent message in the inbox
    waiting(contact_id, now) -> the messages to show, oldest first
    leave(message) -> take it out (shown)
    expire(message_id, now) -> drop one not shown in time: the `expired` status to append (the
                               sweeper's pass over `by_onsite_expiry`)
    status_entry(message_id, status, at) -> a status of an on-site message, for the event log
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.eventlog.entry import STATUS, VERIFIED, Entry, message_subject
from chalicelib.storage.models import Message

log = logging.getLogger(__name__)
SHARDS = 4
SHOWN_AT_ONCE = 3  # more waiting than this: the rest come with the next poll
EXPIRED = "expired"


def shard(message_id: str) -> str:
    return f"o{int(hashlib.sha256(message_id.encode()).hexdigest()[:8], 16) % SHARDS}"


def enter(message: Message, content: Mapping[str, Any], now: datetime) -> list[Any]:
    from chalicelib.core.funnel import ONSITE_EXPIRY  # the dispatcher's: not the poll route's

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


def expire(message_id: str, now: datetime) -> Entry | None:
    """The sweeper found an on-site message never shown in its window: out of the inbox, and
    the `expired` status to append (the worker records it and tells the funnel, which may wait
    for `shown` and branch on this). None when it was shown meanwhile."""
    try:
        message = Message.get(message_id, consistent_read=True)
    except Message.DoesNotExist:
        return None
    if message.expires_at is None or message.expires_at > now or not leave(message):
        return None
    return status_entry(message_id, EXPIRED, now, source="sweeper")


def status_entry(
    message_id: str,
    status: str,
    at: datetime,
    details: Mapping[str, Any] | None = None,
    source: str = "onsite",
) -> Entry:
    """What became of an on-site message, for the event log: once per message and status."""
    return Entry(
        subject=message_subject(message_id),
        event_id=f"onsite:{message_id}:{status}",
        type=STATUS,
        name=status,
        timestamp=at,
        properties=dict(details or {}),
        source=source,
        trust=VERIFIED,  # the device bound to the visitor's identity reported it (or the sweeper)
    )
