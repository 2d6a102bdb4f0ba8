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

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from chalicelib.core.durations import Duration
from chalicelib.core.matching import Where

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


def _one_or_many(item: Any) -> Any:
    return Annotated[
        list[item], BeforeValidator(_as_list, json_schema_input_type=item | list[item])
    ]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AttributesCond(_Model):
    attributes: Where


class EventCond(_Model):
    event: str
    where: Where = Field(default_factory=dict)
    within: Duration | None = None  # only events in the last `within`
    since_enrollment: bool = False  # only events since this enrollment started
    at_least: int = Field(1, ge=1)


class ReactionCond(_Model):
    reaction: _one_or_many(Reaction)  # type: ignore[valid-type]
    messages: _one_or_many(str)  # type: ignore[valid-type]  # ids of send steps
    at_least: int = Field(1, ge=1)  # how many of `messages` must have the reaction


class SegmentCond(_Model):
    segment: _one_or_many(str)  # type: ignore[valid-type]


class RfmCond(_Model):
    rfm: _one_or_many(str)  # type: ignore[valid-type]


class TagCond(_Model):
    tag: _one_or_many(str)  # type: ignore[valid-type]


class ReachableCond(_Model):
    reachable: _one_or_many(Channel)  # type: ignore[valid-type]


class AllCond(_Model):
    all_: list[Condition] = Field(alias="all", min_length=1)


class AnyCond(_Model):
    any_: list[Condition] = Field(alias="any", min_length=1)


class NotCond(_Model):
    not_: Condition = Field(alias="not")


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
    if isinstance(value, BaseModel):
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
    Discriminator(
        _which,
        custom_error_type="condition_kind",
        custom_error_message="a condition needs exactly one of: " + ", ".join(_KEYS),
    ),
]

for _cls in (AllCond, AnyCond, NotCond):
    _cls.model_rebuild()


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
