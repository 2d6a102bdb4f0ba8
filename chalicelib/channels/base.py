"""The one interface every sender implements (email, SMS, WhatsApp, Telegram, Messenger, webhook,
outbox). Senders import their provider SDK lazily, inside `send`, to keep Lambda cold starts short.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str  # ours; carried to the provider (custom args, metadata) to match callbacks
    channel: str  # email | sms | whatsapp | telegram | messenger | instagram | webhook | outbox
    address: str  # email address, E.164 phone, Telegram chat id, Meta PSID, or URL
    content: Mapping[str, Any]  # rendered parts: subject/html/text, or text/buttons, or body
    contact_id: str
    funnel: str | None = None
    step_id: str | None = None
    unsubscribe_url: str | None = None  # one-click (RFC 8058) and visible link
    status_callback_url: str | None = None  # where the provider reports delivery
    metadata: Mapping[str, str] = field(default_factory=dict)
    window_until: datetime | None = None  # Meta's 24-hour window (Identity.window_until)


@dataclass(frozen=True)
class SendResult:
    provider_id: str  # the provider's id of the message (SendGrid X-Message-Id, Twilio SID...)
    status: str = "sent"
    details: Mapping[str, Any] = field(default_factory=dict)


class TemporaryFailure(Exception):
    """Worth retrying later (429, 5xx, timeout); `retry_after` in seconds when the provider said."""

    def __init__(
        self, message: str, retry_after: float | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code  # the provider's error code or HTTP status, for the message record


class PermanentFailure(Exception):
    """Will never succeed for this address (invalid number, blocked bot, hard bounce)."""

    def __init__(
        self, message: str, address_unreachable: bool = True, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.address_unreachable = address_unreachable
        self.code = code


class ChannelUnavailable(PermanentFailure):
    """This channel cannot carry this message now (e.g. outside Meta's 24-hour window with no
    permitted tag): the address stays reachable; try the next channel in the step's list."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message, address_unreachable=False, code=code)


class Channel(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> SendResult: ...
