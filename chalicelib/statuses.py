"""The handoff from provider feedback to the funnels: what happened to a message we sent.

Provider webhooks (SendGrid events, Twilio status, click redirects, unsubscribes, replies) update
the message record and call `wiring.status_sink().handle(...)`; the runtime implements the sink by
feeding each update to the enrollment that sent the message (as the engine's MessageStatusInput).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

STATUSES = ("delivered", "opened", "clicked", "bounced", "replied", "unsubscribed", "failed")


@dataclass(frozen=True)
class MessageStatusUpdate:
    message_id: str
    status: str  # one of STATUSES
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)  # url clicked, reply text, error...


class StatusSink(Protocol):
    def handle(self, updates: Sequence[MessageStatusUpdate]) -> None: ...


class RecordingStatusSink:
    def __init__(self) -> None:
        self.updates: list[MessageStatusUpdate] = []

    def handle(self, updates: Sequence[MessageStatusUpdate]) -> None:
        self.updates.extend(updates)
