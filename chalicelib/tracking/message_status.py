"""Recording what happened to a sent message (the worker tells the funnels).

A status is new the first time it lands in the message's history; replays and second clicks
change nothing there (clicks are still counted). `Message.status` only moves forward (a late
`delivered` after `opened` does not move it back).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.storage.errors import ConflictError
from chalicelib.storage.models import Message

RANK = {
    "claimed": 0,
    "sent": 1,
    "delivered": 2,
    "opened": 3,
    "shown": 3,  # on-site: seen on the page
    "dismissed": 3,
    "clicked": 4,
    "submitted": 5,  # on-site: its form sent
    "replied": 5,
    "unsubscribed": 6,
    "expired": 7,  # on-site: never shown in its window
    "failed": 7,
    "bounced": 7,
}


def find(message_id: str) -> Message | None:
    try:
        return Message.get(message_id)
    except Message.DoesNotExist:
        return None


def find_by_provider_id(provider_id: str) -> Message | None:
    message_id = id_by_provider_id(provider_id)
    return find(message_id) if message_id is not None else None


def id_by_provider_id(provider_id: str) -> str | None:
    for key in Message.by_provider_id.query(provider_id, limit=1):
        return key.message_id
    return None


def latest_to(
    contact_id: str,
    channels: Collection[str],
    address: str,
    look_back: int = 25,
    before: datetime | None = None,
) -> Message | None:
    """The newest message sent to `address` on one of `channels` (a reply's context), among the
    contact's last `look_back` messages (by_contact is keys-only: one BatchGet fetches them).
    `before`: only messages created before then (not the answer a funnel gave the reply)."""
    wanted = {address, address.removeprefix("whatsapp:")}
    keys = [
        key.message_id
        for key in Message.by_contact.query(contact_id, scan_index_forward=False, limit=look_back)
    ]
    if not keys:
        return None
    found = {message.message_id: message for message in Message.batch_get(keys)}
    for message_id in keys:  # newest first
        message = found.get(message_id)
        if not message or message.channel not in channels:
            continue
        if (message.address or "") in wanted and (before is None or message.created_at < before):
            return message
    return None


def clicks_scope(message_id: str) -> str:
    """Where every click on the message's links is counted (the first one is its `clicked`)."""
    return f"message#{message_id}"


def _history_entry(status: str, at: datetime, details: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": status, "at": at.astimezone(UTC).isoformat()}
    entry.update({key: str(value)[:500] for key, value in details.items() if value is not None})
    return entry


def record(
    message: Message, status: str, at: datetime | None = None, details: dict[str, Any] | None = None
) -> bool:
    """Add `status` to the message once; True when it was new (`message` is updated in place).
    `details["by"]`: the log entry that reported it (its figures are counted for that entry)."""
    at = at or datetime.now(UTC)
    details = details or {}
    for _ in range(5):  # optimistic locking on Message.version; a racing webhook means re-read
        if any(entry.get("status") == status for entry in message.status_history or []):
            return False
        actions = [
            Message.status_history.set(
                Message.status_history.append([_history_entry(status, at, details)])
            )
        ]
        if RANK.get(status, 0) > RANK.get(message.status, 0):
            actions.append(Message.status.set(status))
        try:
            message.update(actions=actions)
            break
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            message.refresh(consistent_read=True)
    else:
        raise ConflictError(f"message {message.message_id}: its status kept changing")
    return True
