"""Conditions: the models of `when:` (branch), `condition:` (wait_until, exit rules, trigger).

A condition is a one-key mapping, told apart by its key (no `kind:` noise in YAML):

    attributes: {plan: pro, orders_count: {gte: 2}}      # attributes and figures (a `where`)
    event: request_submitted                             # event history of the contact
      (where:, within: 30d, since_enrollment: true, at_least: 2)
    reaction: opened, messages: [m1, m2, m3], at_least: 2  # reactions to this funnel's sends
    segment: vip | [vip, loyal]     rfm: [at_risk, lost]     tag: b2b     reachable: telegram
    all: [...]   any: [...]   not: {...}

Evaluation lives in `evaluate.py`; these are data only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Annotated, Any, Literal

from chalicelib.core.durations import Duration
from chalicelib.core.matching import Where
from chalicelib.core.plain import Before, Check, OneOf, Tag, model

Channel = Literal["email", "sms", "whatsapp", "telegram", "messenger", "instagram", "onsite"]
CHANNELS: tuple[str, ...] = Channel.__args__  # type: ignore[attr-defined]
Reaction = Literal[
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "replied",
    "unsubscribed",
    "failed",
    "shown",
    "dismissed",
    "submitted",
    "expired",
]
REACTIONS: tuple[str, ...] = Reaction.__args__  # type: ignore[attr-defined]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# A name or a list of them, read as a list (`segment: vip` or `segment: [vip, loyal]`)
OneOrManyNames = Annotated[list[str], Before(_as_list, json_input=str | list[str])]
OneOrManyChannels = Annotated[list[Channel], Before(_as_list, json_input=Channel | list[Channel])]
OneOrManyReactions = Annotated[
    list[Reaction], Before(_as_list, json_input=Reaction | list[Reaction])
]
AtLeastOne = Annotated[int, Check(ge=1)]


@model
class AttributesCond:
    attributes: Where


@model
class EventCond:
    event: str
    where: Where = field(default_factory=dict)
    within: Duration | None = None  # only events in the last `within`
    since_enrollment: bool = False  # only events since this enrollment started
    at_least: AtLeastOne = 1


@model
class ReactionCond:
    reaction: OneOrManyReactions
    messages: OneOrManyNames  # ids of send steps
    at_least: AtLeastOne = 1  # how many of `messages` must have the reaction


@model
class SegmentCond:
    segment: OneOrManyNames


@model
class RfmCond:
    rfm: OneOrManyNames


@model
class TagCond:
    tag: OneOrManyNames


@model
class ReachableCond:
    reachable: OneOrManyChannels


@model
class AllCond:
    all_: Annotated[list[Condition], Check(min_length=1)]


@model
class AnyCond:
    any_: Annotated[list[Condition], Check(min_length=1)]


@model
class NotCond:
    not_: Condition


_KEYS = {
    "attributes": AttributesCond,
    "event": EventCond,
    "reaction": ReactionCond,
    "segment": SegmentCond,
    "rfm": RfmCond,
    "tag": TagCond,
    "reachable": ReachableCond,
    "all": AllCond,
    "any": AnyCond,
    "not": NotCond,
}
CONDITION_KEYS = tuple(_KEYS)
_TAG_OF = {cls: key for key, cls in _KEYS.items()}


def _which(value: Any) -> str | None:
    if dataclasses.is_dataclass(value):
        return _TAG_OF.get(type(value))
    if isinstance(value, dict):
        found = [k for k in _KEYS if k in value]
        return found[0] if len(found) == 1 else None
    return None


Condition = Annotated[
    Annotated[AttributesCond, Tag("attributes")]
    | Annotated[EventCond, Tag("event")]
    | Annotated[ReactionCond, Tag("reaction")]
    | Annotated[SegmentCond, Tag("segment")]
    | Annotated[RfmCond, Tag("rfm")]
    | Annotated[TagCond, Tag("tag")]
    | Annotated[ReachableCond, Tag("reachable")]
    | Annotated[AllCond, Tag("all")]
    | Annotated[AnyCond, Tag("any")]
    | Annotated[NotCond, Tag("not")],
    OneOf(
        _which,
        error_type="condition_kind",
        message="a condition needs exactly one of: " + ", ".join(_KEYS),
    ),
]


def walk(cond: Any):
    """Yield a condition and all conditions nested in it (for validation and indexing)."""
    yield cond
    if isinstance(cond, AllCond):
        for c in cond.all_:
            yield from walk(c)
    elif isinstance(cond, AnyCond):
        for c in cond.any_:
            yield from walk(c)
    elif isinstance(cond, NotCond):
        yield from walk(cond.not_)
