"""On-site messages: "sending" one puts it in the contact's on-site inbox (the message record,
found by the sparse by_onsite index); the snippet shows it on the person's next page view and
reports what they did with it (chalicelib/onsite). No provider, no credentials: it is always
configured, and reaches a contact who has browsed the site (an anonymous id of the snippet's)."""

from __future__ import annotations

from chalicelib.channels.base import OutgoingMessage, SendResult

ONSITE = "onsite"


class OnsiteChannel:
    name = ONSITE

    def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult(provider_id=f"onsite-{message.message_id}", status="sent")
