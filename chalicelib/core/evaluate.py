"""Evaluating conditions against what is known at one moment (Facts)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.core import conditions as c
from chalicelib.core.matching import matches
from chalicelib.core.state import ContactView, utc


@dataclass(frozen=True, slots=True)
class Facts:
    contact: ContactView
    reactions: Mapping[str, Mapping[str, datetime]]  # this enrollment's send step -> reactions
    started_at: datetime | None
    now: datetime
    events: Sequence[Any]  # (name, properties, at), oldest first, the input event included


def holds(cond: Any, f: Facts) -> bool:
    return _EVAL[type(cond)](cond, f)


def _event(cond: c.EventCond, f: Facts) -> bool:
    since = None
    if cond.within is not None:
        since = f.now - cond.within
    if cond.since_enrollment and f.started_at is not None:
        since = max(since, f.started_at) if since else f.started_at
    count = 0
    for name, props, at in f.events:
        if name != cond.event or (since is not None and utc(at) < since):
            continue
        if matches(props, cond.where):
            count += 1
            if count >= cond.at_least:
                return True
    return False


def _reaction(cond: c.ReactionCond, f: Facts) -> bool:
    wanted = cond.reaction
    count = sum(1 for m in cond.messages if any(s in f.reactions.get(m, ()) for s in wanted))
    return count >= cond.at_least


_EVAL: dict[type, Callable[[Any, Facts], bool]] = {
    c.AttributesCond: lambda cond, f: matches(f.contact.profile, cond.attributes),
    c.EventCond: _event,
    c.ReactionCond: _reaction,
    c.SegmentCond: lambda cond, f: any(s in f.contact.segments for s in cond.segment),
    c.RfmCond: lambda cond, f: f.contact.rfm_segment in cond.rfm,
    c.TagCond: lambda cond, f: any(t in f.contact.tags for t in cond.tag),
    c.ReachableCond: lambda cond, f: any(f.contact.can_reach(ch) for ch in cond.reachable),
    c.AllCond: lambda cond, f: all(holds(x, f) for x in cond.all_),
    c.AnyCond: lambda cond, f: any(holds(x, f) for x in cond.any_),
    c.NotCond: lambda cond, f: not holds(cond.not_, f),
}
