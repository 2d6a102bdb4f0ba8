"""Broadcasts (one-off campaigns): one message, or a hand-over to a funnel, for everyone in a
saved segment, now or at a given time.

A broadcast runs as a one-step funnel of its own (`broadcast-{name}`, entered by API only,
once per contact): the engine that runs every funnel decides each person's send, so consent,
dead addresses, topics, quiet hours in the contact's own time zone and frequency caps hold as
they do for any funnel, a send is recorded and counted like a funnel step's (delivered,
opened, clicked, unsubscribed, attributed revenue), and nobody can enter it twice.

    parse_broadcast(name, data) -> Broadcast          or InvalidBroadcast(problems)
    broadcast.funnel_definition() -> dict             the funnel it runs as
    broadcast.pace_per_second() -> {channel: rate}    how fast each channel's sends may go
    route(broadcast, contact) -> channel | why not    what a dry run counts for one contact
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from chalicelib.core import plain
from chalicelib.core.conditions import Channel
from chalicelib.core.funnel import ID_PATTERN, Content, Funnel, Goal, Policy, QuietHours, Sample
from chalicelib.core.state import ContactView, utc

PREFIX = "broadcast-"  # the funnel a broadcast runs as: `broadcast-{name}`
SEND_STEP = "send"
HAND_OVER_STEP = "hand_over"
DEFAULT_QUIET_HOURS = plain.load(QuietHours, {"start": "21:00", "end": "08:00"})  # contact tz
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(value: Any) -> float:
    """'50/s', '600/min', '2000/h' (or a plain number per second) -> messages per second."""
    if isinstance(value, bool):
        raise ValueError(f"not a rate: {value!r}")
    if isinstance(value, int | float):
        rate = float(value)
    else:
        found = _RATE.match(str(value))
        if not found:
            raise ValueError(f"bad rate {value!r}: write it like '50/s', '600/min' or '2000/h'")
        rate = float(found.group(1)) / _PER[found.group(2)]
    if rate <= 0:
        raise ValueError(f"a rate must be above zero, got {value!r}")
    if rate < SLOWEST_PACE:
        raise ValueError(f"a pace must be at least 1/min, got {value!r}")
    return rate


Rate = Annotated[float, BeforeValidator(parse_rate)]
# A send waits for its pace after it is claimed; the sweeper takes a claimed send that waited
# minutes for an interrupted one, so no send may wait longer than a minute or so for its turn.
SLOWEST_PACE = 1 / 60


class InvalidBroadcast(ValueError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems  # (field, message)
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


class Broadcast(BaseModel):
    """What a broadcast sends (a message on the first reachable of `channels`, or a hand-over
    to `funnel`), to whom (a saved `segment`) and when (`at`, default: at once)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=ID_PATTERN, max_length=48)
    description: str = ""
    segment: str = Field(pattern=ID_PATTERN, max_length=64)
    at: datetime | None = None
    topic: str | None = Field(None, pattern=ID_PATTERN, max_length=64)
    channel: Channel | None = None
    channels: list[Channel] = Field(default_factory=list)
    content: Content | None = None
    funnel: str | None = Field(None, pattern=ID_PATTERN)
    pace: dict[Channel, Rate] = Field(default_factory=dict)  # messages per second
    policy: Policy | None = None
    goal: Goal | None = None
    sample: Sample | None = None

    @model_validator(mode="after")
    def _shape(self) -> Broadcast:
        if self.channel is not None:
            if self.channels:
                raise ValueError("give `channel` or `channels`, not both")
            object.__setattr__(self, "channels", [self.channel])
            object.__setattr__(self, "channel", None)
        if (self.content is None) == (self.funnel is None):
            raise ValueError("give `content` (a message) or `funnel` (a hand-over), not both")
        if self.content is not None and not self.channels:
            raise ValueError("a message needs `channel` or `channels`")
        if self.funnel is not None and self.channels:
            raise ValueError("`channels` go with `content`; a funnel chooses its own")
        if self.at is not None:
            object.__setattr__(self, "at", utc(self.at))
        return self

    def pace_per_second(self) -> dict[str, float]:
        """The broadcast's own ceiling per channel (on top of the providers' rate limits)."""
        return {str(channel): rate for channel, rate in self.pace.items()}

    @property
    def funnel_name(self) -> str:
        return PREFIX + self.name

    def funnel_definition(self) -> dict[str, Any]:
        policy = self.policy or Policy()
        if policy.quiet_hours is None:  # unless switched off (`false`), people sleep
            policy = dataclasses.replace(policy, quiet_hours=DEFAULT_QUIET_HOURS)
        step: dict[str, Any]
        if self.funnel is not None:
            step = {"id": HAND_OVER_STEP, "kind": "goto", "funnel": self.funnel}
        else:
            step = {
                "id": SEND_STEP,
                "kind": "send",
                "channels": list(self.channels),
                "template": "message",
            }
        definition: dict[str, Any] = {
            "name": self.funnel_name,
            "description": self.description or f"Broadcast {self.name} to {self.segment}",
            "tags": ["broadcast"],
            "trigger": {"api": True},
            "reentry": {"policy": "once"},
            "policy": plain.dump(policy),
            "steps": [step],
        }
        # Revenue is attributed to the message by its opens and clicks, goal or not. A goal
        # adds conversions, and keeps each enrollment (and a wake-up) until its window closes.
        if self.goal is not None:
            definition["goal"] = plain.dump(self.goal)
        if self.topic:
            definition["topic"] = self.topic
        if self.content is not None:
            definition["templates"] = {"message": plain.dump(self.content)}
        if self.sample is not None:
            definition["sample"] = plain.dump(self.sample)
        return definition


# Where a problem in the funnel a broadcast runs as comes from, in the broadcast's own terms.
_FIELDS = (
    ("templates.message", "content"),
    ("steps[0].channels", "channels"),
    ("steps[0].funnel", "funnel"),
    ("steps[0]", "channels"),
)


def parse_broadcast(name: str, data: Any) -> Broadcast:
    if not isinstance(data, dict):
        raise InvalidBroadcast([("body", "a broadcast is an object: segment, content, channels")])
    try:
        broadcast = Broadcast.model_validate({**data, "name": name})
    except ValidationError as error:
        raise InvalidBroadcast(
            [
                (
                    ".".join(str(p) for p in e["loc"]) or "body",
                    plain.message(e),
                )
                for e in error.errors()
            ]
        ) from None
    from chalicelib.core.validate import semantic_checks

    try:
        funnel = plain.adapter(Funnel).validate_python(broadcast.funnel_definition())
    except ValidationError as error:
        raise InvalidBroadcast([_pydantic(e) for e in error.errors()]) from None
    problems = []
    for loc, message, _ in semantic_checks(funnel):
        field = _field(loc)
        problems.append((field, message))
    if problems:
        raise InvalidBroadcast(problems)
    return broadcast


def _pydantic(error: Any) -> tuple[str, str]:
    return _field(error["loc"]) or "body", plain.message(error)


def _field(loc: Any) -> str:
    from chalicelib.core.problems import format_field

    path = format_field(loc)
    for prefix, ours in _FIELDS:
        if path.startswith(prefix):
            return ours + path[len(prefix) :]
    return path


NO_CHANNEL = "unreachable"  # no channel of the broadcast reaches the contact
OPTED_OUT = "opted_out"  # the contact switched the broadcast's topic off


def route(broadcast: Broadcast, contact: ContactView) -> str:
    """The channel the message would go out on for `contact` (the engine's choice), or why it
    would not: a dry run adds these up per channel. A hand-over counts as the funnel's name."""
    if broadcast.topic and contact.consents.get("topic:" + broadcast.topic) is False:
        return OPTED_OUT
    if broadcast.funnel is not None:
        return f"funnel:{broadcast.funnel}"
    return next((ch for ch in broadcast.channels if contact.can_reach(ch)), NO_CHANNEL)
