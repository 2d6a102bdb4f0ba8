"""Engine inputs and decisions: plain frozen dataclasses, data only.

Inputs:    EventInput, TimerInput, MessageStatusInput
Decisions: SendMessage, ScheduleWakeup, CancelWakeup, UpdateProfile, RecordConversion, Exit,
           EnrollInFunnel, CallWebhook
Every decision has `to_dict()` (JSON-safe, with a "type" key) for outboxes and logs.
Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

UNSUBSCRIBED = "unsubscribed"  # a status that ends the enrollment that sent the message
MESSAGE_STATUSES = (
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "replied",
    "unsubscribed",
    "failed",
    # on-site messages (the snippet reports them): shown, closed, its form sent, never shown
    "shown",
    "dismissed",
    "submitted",
    "expired",
)
# A reaction implies the weaker ones: a click was an open, an open a delivery.
IMPLIED: dict[str, tuple[str, ...]] = {
    "clicked": ("opened", "delivered"),
    "opened": ("delivered",),
    "replied": ("opened", "delivered"),
    "shown": ("opened", "delivered"),
    "dismissed": ("opened", "delivered"),
    "submitted": ("clicked", "opened", "delivered"),
}


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventInput:
    name: str
    properties: dict[str, Any]
    occurred_at: datetime
    event_id: str = ""
    # False for a claim (chalicelib.core.trust): it may convert a goal (the person says they
    # bought: stop the reminders), but its value is no revenue.
    counts_value: bool = True


@dataclass(frozen=True, slots=True)
class TimerInput:
    token: int  # must equal the state's current token, else the wake-up is stale


@dataclass(frozen=True, slots=True)
class MessageStatusInput:
    step_id: str
    status: str  # one of MESSAGE_STATUSES
    at: datetime


Input = EventInput | TimerInput | MessageStatusInput


# --- decisions ----------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset):
        return [_jsonable(v) for v in value]
    return value


class _Decision:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return {"type": type(self).__name__, **d}


@dataclass(frozen=True, slots=True)
class SendMessage(_Decision):
    idempotency_key: str  # f"{enrollment_id}:{step_id}:{visit}"
    step_id: str
    channels: tuple[str, ...]  # ordered fallback, only channels the contact can be reached on
    content: dict[str, dict[str, Any]]  # channel -> rendered parts (subject/html/text, buttons)
    template_id: str
    stage_label: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduleWakeup(_Decision):
    at: datetime
    token: int  # deliver TimerInput(token) at `at`


@dataclass(frozen=True, slots=True)
class CancelWakeup(_Decision):
    token: int


@dataclass(frozen=True, slots=True)
class UpdateProfile(_Decision):
    set: dict[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordConversion(_Decision):
    event_name: str
    value: float | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Exit(_Decision):
    status: str  # converted | exited | completed
    reason: str


@dataclass(frozen=True, slots=True)
class EnrollInFunnel(_Decision):
    funnel_name: str


@dataclass(frozen=True, slots=True)
class CallWebhook(_Decision):
    idempotency_key: str
    url: str
    body: dict[str, Any]


Decision = (
    SendMessage
    | ScheduleWakeup
    | CancelWakeup
    | UpdateProfile
    | RecordConversion
    | Exit
    | EnrollInFunnel
    | CallWebhook
)


@dataclass(frozen=True, slots=True)
class Trace:
    """What the engine did and why, for the simulator timeline and per-step stats.
    kind: enter | send | skip | defer | wait | branch | split | update | webhook | goto |
          met | timeout | goal | exit | end | linger"""

    at: datetime
    step_id: str | None
    kind: str
    detail: str = ""
    after: int = 0  # how many of the Outcome's decisions came before this entry
