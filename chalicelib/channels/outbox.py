"""The outbox: a channel that sends nothing. The message record (channel "outbox") is the result,
listed by `GET /admin/outbox`. Used when a channel has no credentials, locally and in tests."""

from __future__ import annotations

from chalicelib.channels.base import OutgoingMessage, SendResult

OUTBOX = "outbox"


class OutboxChannel:
    name = OUTBOX

    def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult(provider_id=f"outbox-{message.message_id}", status="sent")
