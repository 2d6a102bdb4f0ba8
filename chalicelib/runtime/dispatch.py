"""Carrying out sends: claim the message record, hand it to its channel, record the result.

The message record was written in the same transaction as the enrollment step that decided it
(status "pending"), so a decided send is never lost. Claiming it (pending → sending) is a
conditional write, so two dispatchers never send it twice. A dispatcher that dies after the claim
leaves it "sending": `recover` retries it once, then marks it failed — visibly, never silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.channels.base import (
    Channel,
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
)
from chalicelib.runtime.clock import Clock
from chalicelib.storage.models import Identity, Message

log = logging.getLogger(__name__)

SHARDS = 4
PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
MAX_ATTEMPTS = 2  # the first try and one retry after an interruption
STUCK_AFTER = timedelta(minutes=2)


def dispatch_shard(message_id: str) -> str:
    return f"d{int(message_id[:8], 16) % SHARDS}"


class Dispatcher:
    def __init__(self, channels: Mapping[str, Channel], outbox: Channel, clock: Clock) -> None:
        self._channels = channels
        self._outbox = outbox
        self._clock = clock

    def sender_for(self, channel: str) -> str:
        """The sender that will carry `channel`: its provider when configured, else the outbox."""
        return channel if channel in self._channels else self._outbox.name

    def dispatch(self, message: Message) -> str:
        """Send one pending message; returns its status afterwards."""
        if not self._claim(message):
            return str(message.status)
        channel = self._channels.get(str(message.via), self._outbox)
        outgoing = OutgoingMessage(
            message_id=message.message_id,
            channel=message.channel,
            address=message.address or "",
            content=message.content or {},
            contact_id=message.contact_id,
            funnel=message.funnel,
            step_id=message.step_id,
        )
        try:
            result = channel.send(outgoing)
        except TemporaryFailure as error:
            # Back to pending: the next recovery pass tries again (not counted as interrupted).
            self._finish(message, PENDING, error=str(error), keep_shard=True, attempts_back=True)
        except PermanentFailure as error:
            self._finish(message, FAILED, error=str(error))
            if error.address_unreachable and message.address:
                _mark_unreachable(message.channel, message.address)
        else:
            self._finish(message, SENT, provider_id=result.provider_id)
        return str(message.status)

    def recover(self) -> int:
        """Resolve messages left pending or sending by a crash; returns how many it touched."""
        now = self._clock()
        touched = 0
        for message in self._stuck(now - STUCK_AFTER):
            touched += 1
            if message.status == SENDING and message.attempts >= MAX_ATTEMPTS:
                self._finish(message, FAILED, error="interrupted while sending, twice")
                log.error("message %s failed: interrupted while sending", message.message_id)
                continue
            if message.status == SENDING:
                message.update(actions=[Message.status.set(PENDING)])
            self.dispatch(message)
        return touched

    def _stuck(self, before: datetime) -> Iterator[Message]:
        for shard in range(SHARDS):
            for key in Message.by_dispatch.query(f"d{shard}", Message.created_at <= before):
                try:
                    yield Message.get(key.message_id, consistent_read=True)
                except Message.DoesNotExist:
                    continue

    def _claim(self, message: Message) -> bool:
        for _ in range(3):  # our copy may be stale (a status callback bumped its version)
            if message.status != PENDING:
                return False
            try:
                message.update(
                    actions=[Message.status.set(SENDING), Message.attempts.add(1)],
                    condition=Message.status == PENDING,
                )
                return True
            except UpdateError:
                message.refresh(consistent_read=True)
        return False

    def _finish(
        self,
        message: Message,
        status: str,
        *,
        provider_id: str | None = None,
        error: str | None = None,
        keep_shard: bool = False,
        attempts_back: bool = False,
    ) -> None:
        now = self._clock()
        entry = {"status": status, "at": now.isoformat()}
        if error:
            entry["error"] = error
        for _ in range(3):
            # A provider callback (delivered, opened) may land before we record "sent":
            # then keep its newer status and only add what we know.
            overtaken = message.status not in (PENDING, SENDING)
            actions = [] if overtaken else [Message.status.set(status)]
            actions.append(Message.status_history.set(Message.status_history.append([entry])))
            if status == SENT:
                actions += [Message.sent_at.set(now), Message.provider_id.set(provider_id)]
            if error:
                actions.append(Message.error.set(error))
            if attempts_back:
                actions.append(Message.attempts.add(-1))
            if not keep_shard:
                actions.append(Message.dispatch_shard.remove())
            try:
                message.update(actions=actions)
                return
            except UpdateError:
                message.refresh(consistent_read=True)
        log.error("could not record %s for message %s", status, message.message_id)


def _mark_unreachable(channel: str, address: str) -> None:
    kind = {"sms": "phone", "whatsapp": "phone"}.get(channel, channel)
    try:
        Identity(f"{kind}:{address}").update(
            actions=[Identity.unreachable.set(True)], condition=Identity.identity.exists()
        )
    except UpdateError:
        log.warning("no identity %s:%s to mark unreachable", kind, address)
