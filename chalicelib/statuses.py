"""What happened to a message we sent, as the worker hands it to the funnels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# A message record's own states, before and around its send (chalicelib.runtime.dispatch)
PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
HELD = "held"

STATUSES = ("delivered", "opened", "clicked", "bounced", "replied", "unsubscribed", "failed")


@dataclass(frozen=True)
class MessageStatusUpdate:
    message_id: str
    status: str  # one of STATUSES
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)  # url clicked, reply text, error...
