"""Messages held over a channel's daily limit: list them, release them (they go out with the
next sweep, past today's limit: an operator decided) or discard them (never sent).

Held messages sit in the `held` partition of the messages' sparse `by_dispatch` index, so
listing them is one Query, oldest first; releasing puts a message back in its dispatch shard
as pending, where the sweeper (every 5 minutes) sends it. Each change is conditional on the
message still being held, so two operators clicking at once act once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.runtime.dispatch import (
    HELD,
    HELD_SHARD,
    PENDING,
    RELEASED,
    SKIPPED,
    dispatch_shard,
)
from chalicelib.storage.models import Message

MAX_PER_CALL = 500  # a release or discard acts on at most this many (call again for more)


def held(channel: str | None = None, limit: int = MAX_PER_CALL) -> Iterator[Message]:
    """Held messages, oldest first (only `channel`'s when given)."""
    found = 0
    for key in Message.by_dispatch.query(HELD_SHARD):
        if found >= limit:
            return
        try:
            message = Message.get(key.message_id, consistent_read=True)
        except Message.DoesNotExist:
            continue
        if message.status != HELD or (channel and message.channel != channel):
            continue
        found += 1
        yield message


def summary(message: Message) -> dict[str, object]:
    history = message.status_history or []
    held_at = next(
        (entry.get("at") for entry in reversed(history) if entry.get("status") == HELD), None
    )
    return {
        "message_id": message.message_id,
        "contact_id": message.contact_id,
        "channel": message.channel,
        "address": message.address,
        "funnel": message.funnel,
        "step": message.step_id,
        "created_at": message.created_at.isoformat(),
        "held_at": held_at,
        "reason": message.error,
    }


def release(channel: str | None, now: datetime, limit: int = MAX_PER_CALL) -> int:
    """Send these held messages after all (with the next sweep); returns how many."""
    released = 0
    for message in held(channel, limit):
        content = {**(message.content or {}), RELEASED: True}
        entry = {"status": PENDING, "at": now.isoformat(), "note": "released by an operator"}
        if _change(
            message,
            [
                Message.status.set(PENDING),
                Message.content.set(content),
                Message.dispatch_shard.set(dispatch_shard(message.message_id)),
                Message.not_before.remove(),
                Message.status_history.set(Message.status_history.append([entry])),
            ],
        ):
            released += 1
    return released


def discard(channel: str | None, now: datetime, limit: int = MAX_PER_CALL) -> int:
    """Never send these held messages; returns how many."""
    discarded = 0
    for message in held(channel, limit):
        entry = {"status": SKIPPED, "at": now.isoformat(), "error": "discarded by an operator"}
        if _change(
            message,
            [
                Message.status.set(SKIPPED),
                Message.error.set("held over the daily limit, then discarded by an operator"),
                Message.dispatch_shard.remove(),
                Message.status_history.set(Message.status_history.append([entry])),
            ],
        ):
            discarded += 1
    return discarded


def _change(message: Message, actions: list[object]) -> bool:
    try:
        message.update(actions=actions, condition=Message.status == HELD)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False  # released or discarded meanwhile
    return True
