"""Saved segments (pure): a name and a condition in the funnel language, evaluated against a
contact, plus which events can change the answer and when time alone will.

    parse_segment(name, {"condition": {...}, "description": "..."}) -> SegmentDefinition
    stored_segment(name, data) -> SegmentDefinition   # one parse_segment accepted (no pydantic)
    is_member(definition, contact, now) -> bool
    listens_to(definition) -> frozenset[str] | None   # None: any event (attributes, tags)
    next_change(definition, contact, now) -> datetime | None

Example: "viewed category X twice in 7 days and no order":
    all:
      - event: product_viewed
        where: {category: shoes}
        within: 7d
        at_least: 2
      - not: {event: order_completed}
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from chalicelib.core import conditions as c
from chalicelib.core import figures, plain
from chalicelib.core.evaluate import Facts, holds
from chalicelib.core.funnel import ID_PATTERN, SEGMENT_ENTERED
from chalicelib.core.matching import matches
from chalicelib.core.state import ContactView, utc

SEGMENT_LEFT = "segment_left"
RFM_SEGMENT_CHANGED = "rfm_segment_changed"
TICK = timedelta(seconds=1)  # an event `within` W counts until exactly at + W; it is out after


@plain.model
class SegmentDefinition:
    name: Annotated[str, plain.Check(pattern=ID_PATTERN, max_length=64)]
    condition: c.Condition
    description: str | None = None


class InvalidSegment(ValueError):
    pass


def parse_segment(name: str, data: Any) -> SegmentDefinition:
    if not isinstance(data, dict):
        raise InvalidSegment("a segment is an object with a `condition`")
    from pydantic import ValidationError

    try:
        adapter = plain.adapter(SegmentDefinition)
        definition: SegmentDefinition = adapter.validate_python({**data, "name": name})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidSegment(f"{where}: {plain.message(first)}") from error
    for cond in c.walk(definition.condition):
        if isinstance(cond, c.ReactionCond):
            raise InvalidSegment("`reaction` belongs to a funnel's own messages, not a segment")
        if isinstance(cond, c.EventCond) and cond.since_enrollment:
            raise InvalidSegment("`since_enrollment` has no meaning outside a funnel")
        if isinstance(cond, c.SegmentCond) and name in cond.segment:
            raise InvalidSegment("a segment cannot be defined by itself")
        if isinstance(cond, c.AttributesCond):
            for path in cond.attributes:
                problem = figures.unknown_field(path)
                if problem:
                    raise InvalidSegment(f"condition.attributes.{path}: {problem}")
    return definition


def stored_segment(name: str, data: dict[str, Any]) -> SegmentDefinition:
    """A definition `parse_segment` accepted, as stored (the condition as written): read
    without validating again, its shorthands (one name for a list, `where` values, durations)
    expanded as the validator expands them."""
    return plain.load(SegmentDefinition, {**data, "name": name})


def is_member(definition: SegmentDefinition, contact: ContactView, now: datetime) -> bool:
    facts = Facts(contact, {}, None, utc(now), list(contact.events))
    return holds(definition.condition, facts)


def listens_to(definition: SegmentDefinition) -> frozenset[str] | None:
    names: set[str] = set()
    for cond in c.walk(definition.condition):
        if isinstance(cond, c.EventCond):
            names.add(cond.event)
        elif isinstance(cond, c.SegmentCond):
            names |= {SEGMENT_ENTERED, SEGMENT_LEFT}
        elif isinstance(cond, c.RfmCond):
            names.add(RFM_SEGMENT_CHANGED)
        elif isinstance(cond, c.AttributesCond | c.TagCond | c.ReachableCond):
            return None
    return frozenset(names)


def next_change(
    definition: SegmentDefinition, contact: ContactView, now: datetime
) -> datetime | None:
    """The first moment after `now` when an event leaves a `within` window of the condition:
    the only way time alone changes the answer."""
    now = utc(now)
    moments = []
    for cond in c.walk(definition.condition):
        if not isinstance(cond, c.EventCond) or cond.within is None:
            continue
        for name, properties, at in contact.events:
            if name == cond.event and matches(properties, cond.where):
                expires = utc(at) + cond.within + TICK
                if expires > now:
                    moments.append(expires)
    return min(moments) if moments else None
