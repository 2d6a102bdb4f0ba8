"""What the engine knows about a contact (ContactView) and about one enrollment
(EnrollmentState).

ContactView is built by the runtime for each call and never stored by the engine.
  events: past events, oldest first, as (name, properties, at) tuples (PastEvent or plain).
    It may or may not already contain the input event; the engine de-duplicates.
  recent_sends: times of messages sent to the contact by any funnel (for per-contact caps).
  consents: channel -> bool; a channel without an entry counts as allowed.
  figures: what the system keeps about the contact (core/figures.py: orders_count,
    total_spent, first_touch ...). `profile` is attributes with the figures over them: what
    `attributes:` conditions and `contact.*` in templates see.

EnrollmentState is stored on the enrollment item: `to_dict()` is JSON-safe and compact (times
are epoch milliseconds, so there are no floats besides `value` and whatever the trigger event
carried in `trigger`); `from_dict()` reverses it. The engine never mutates a state it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, NamedTuple

ACTIVE, CONVERTED, EXITED, COMPLETED = "active", "converted", "exited", "completed"


class PastEvent(NamedTuple):
    name: str
    properties: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class ContactView:
    contact_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    timezone: str | None = None
    consents: Mapping[str, bool] = field(default_factory=dict)
    reachable_channels: frozenset[str] = frozenset()
    events: tuple[Any, ...] = ()
    segments: frozenset[str] = frozenset()
    rfm_segment: str | None = None
    recent_sends: tuple[datetime, ...] = ()
    figures: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def profile(self) -> dict[str, Any]:
        """Attributes, with the figures over them (a trait never fakes a figure)."""
        rfm = {"rfm_segment": self.rfm_segment} if self.rfm_segment is not None else {}
        return {**self.attributes, **rfm, **self.figures}

    def can_reach(self, channel: str) -> bool:
        return channel in self.reachable_channels and self.consents.get(channel, True) is not False

    def template_data(self) -> dict[str, Any]:
        """`contact.*` in templates: the profile plus a few built-ins."""
        return {
            **self.profile,
            "id": self.contact_id,
            "tags": sorted(self.tags),
            "segments": sorted(self.segments),
            "rfm_segment": self.rfm_segment,
        }


def utc(dt: datetime) -> datetime:
    """Normalise to aware UTC; naive datetimes are taken to be UTC already."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def to_ms(dt: datetime | None) -> int | None:
    return None if dt is None else round(utc(dt).timestamp() * 1000)


def from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class EnrollmentState:
    enrollment_id: str
    funnel: str
    version: int
    contact_id: str
    started_at: datetime
    status: str = ACTIVE
    step: str | None = None  # current step (None: past the last step, awaiting the goal)
    step_at: datetime | None = None  # when the current step was entered
    token: int = 0  # bumped on every ScheduleWakeup; a TimerInput must match it
    wake_at: datetime | None = None
    wake_kind: str | None = None  # wait | timeout | defer | window
    reactions: dict[str, dict[str, datetime]] = field(default_factory=dict)  # step -> status -> at
    visits: dict[str, int] = field(default_factory=dict)  # step -> times entered
    splits: dict[str, str] = field(default_factory=dict)  # split step -> variant (or holdout)
    value: float | None = None  # conversion value
    trigger_event: str | None = None
    trigger: dict[str, Any] = field(default_factory=dict)  # trigger event properties
    ended_at: datetime | None = None
    reason: str | None = None

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def copy(self) -> EnrollmentState:
        """Copy deep enough for the engine to change it without touching the original."""
        return EnrollmentState(
            **{
                **self.__dict__,
                "reactions": {k: dict(v) for k, v in self.reactions.items()},
                "visits": dict(self.visits),
                "splits": dict(self.splits),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "enrollment_id": self.enrollment_id,
            "funnel": self.funnel,
            "version": self.version,
            "contact_id": self.contact_id,
            "started_at": to_ms(self.started_at),
            "status": self.status,
            "step": self.step,
            "step_at": to_ms(self.step_at),
            "token": self.token,
            "wake_at": to_ms(self.wake_at),
            "wake_kind": self.wake_kind,
            "reactions": {
                s: {k: to_ms(t) for k, t in r.items()} for s, r in self.reactions.items()
            },
            "visits": dict(self.visits),
            "splits": dict(self.splits),
            "value": self.value,
            "trigger_event": self.trigger_event,
            "trigger": self.trigger,
            "ended_at": to_ms(self.ended_at),
            "reason": self.reason,
        }
        return {k: v for k, v in d.items() if v is not None and v != {}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EnrollmentState:
        return cls(
            enrollment_id=d["enrollment_id"],
            funnel=d["funnel"],
            version=int(d["version"]),
            contact_id=d["contact_id"],
            started_at=from_ms(int(d["started_at"])),  # type: ignore[arg-type]
            status=d.get("status", ACTIVE),
            step=d.get("step"),
            step_at=from_ms(_int(d.get("step_at"))),
            token=int(d.get("token", 0)),
            wake_at=from_ms(_int(d.get("wake_at"))),
            wake_kind=d.get("wake_kind"),
            reactions={
                s: {k: from_ms(int(t)) for k, t in r.items()}  # type: ignore[misc]
                for s, r in d.get("reactions", {}).items()
            },
            visits={k: int(v) for k, v in d.get("visits", {}).items()},
            splits=dict(d.get("splits", {})),
            value=float(d["value"]) if d.get("value") is not None else None,
            trigger_event=d.get("trigger_event"),
            trigger=dict(d.get("trigger", {})),
            ended_at=from_ms(_int(d.get("ended_at"))),
            reason=d.get("reason"),
        )


def _int(value: Any) -> int | None:
    # DynamoDB hands numbers back as Decimal; accept those too.
    return None if value is None else int(value)
