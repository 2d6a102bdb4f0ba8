"""Routing events to funnels without scanning them all, and the entry rules.

    index = TriggerIndex.build(funnels)
    index.candidates(event_name) -> list[Funnel]   # trigger, goal, exit or wait_until mention it,
                                                   # plus funnels whose condition-based waits or
                                                   # exits may change on any event
    index.entry_candidates(event_name) -> list[Funnel]   # only funnels it could start
    index.named(event_name) -> bool   # some funnel names it (else only conditions may care)
    index.get(name) -> Funnel | None;  index.date_funnels -> tuple[Funnel, ...]
    matches_trigger(funnel, event, contact) -> bool
    matches_date_trigger(funnel, contact, now) -> bool   # run once a day per contact
    may_enter(funnel, past_enrollments: list[(started_at, status)], now) -> bool
    hears_statuses(funnel) -> bool   # a status on its sends may change an enrollment

Segment triggers listen to the runtime's `segment_entered {segment}` event and
`exit: entered_funnel` to `funnel_entered {funnel}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.core import clock
from chalicelib.core.decisions import EventInput
from chalicelib.core.evaluate import Facts, holds
from chalicelib.core.funnel import (
    FUNNEL_ENTERED,
    MESSAGE_RECEIVED,
    SEGMENT_ENTERED,
    Funnel,
    WaitReplyStep,
    WaitUntilStep,
)
from chalicelib.core.funnel_conditions import reads_reactions
from chalicelib.core.matching import matches
from chalicelib.core.state import ACTIVE, ContactView, PastEvent, utc


def trigger_event_name(funnel: Funnel) -> str | None:
    t = funnel.trigger
    return t.event or (SEGMENT_ENTERED if t.segment else None)


def mentioned(funnel: Funnel) -> set[str]:
    """The event names a funnel version reacts to by name."""
    names = {trigger_event_name(funnel), funnel.goal.event if funnel.goal else None}
    for rule in funnel.exit:
        names.add(rule.event)
        if rule.entered_funnel:
            names.add(FUNNEL_ENTERED)
    names |= {s.event for s in funnel.steps if isinstance(s, WaitUntilStep)}
    if any(isinstance(s, WaitReplyStep) for s in funnel.steps):
        names.add(MESSAGE_RECEIVED)
    names.discard(None)
    return names  # type: ignore[return-value]


def condition_driven(funnel: Funnel) -> bool:
    """Its conditions (a wait's, an exit's) may change on any event: it listens to all."""
    waits = any(isinstance(s, WaitUntilStep) and s.condition for s in funnel.steps)
    return waits or any(rule.condition for rule in funnel.exit)


def hears_statuses(funnel: Funnel) -> bool:
    """Whether a provider status (other than an unsubscribe, which ends any enrollment) on one
    of its sends can change an enrollment of this version: it looks at reactions, or its
    conditions may change on any input. Other versions' enrollments keep no reactions."""
    return reads_reactions(funnel) or condition_driven(funnel)


class TriggerIndex:
    def __init__(self, funnels: Sequence[Funnel]):
        self.funnels = tuple(funnels)
        self._by_name = {f.name: f for f in self.funnels}
        self._entry: dict[str, list[Funnel]] = {}
        self._interest: dict[str, list[Funnel]] = {}
        wildcard = [f for f in self.funnels if condition_driven(f)]
        for f in self.funnels:
            name = trigger_event_name(f)
            if name:
                self._entry.setdefault(name, []).append(f)
            for ev in mentioned(f):
                if f not in wildcard:
                    self._interest.setdefault(ev, []).append(f)
        self._wildcard = wildcard
        self._named = set(self._entry) | set(self._interest)
        self._named |= {ev for f in wildcard for ev in mentioned(f)}
        self.date_funnels = tuple(f for f in self.funnels if f.trigger.date)

    @classmethod
    def build(cls, funnels: Iterable[Funnel]) -> TriggerIndex:
        return cls(list(funnels))

    def candidates(self, event_name: str) -> list[Funnel]:
        return [*self._interest.get(event_name, ()), *self._wildcard]

    def entry_candidates(self, event_name: str) -> list[Funnel]:
        return list(self._entry.get(event_name, ()))

    @property
    def wildcard(self) -> tuple[Funnel, ...]:
        return tuple(self._wildcard)

    def named(self, event_name: str) -> bool:
        """Some funnel starts on, exits on, converts on or waits for this event by name;
        otherwise it reaches only the condition-driven funnels (`candidates`)."""
        return event_name in self._named

    def get(self, name: str) -> Funnel | None:
        return self._by_name.get(name)

    def __len__(self) -> int:
        return len(self.funnels)


def _facts(contact: ContactView, now: datetime, event: EventInput | None = None) -> Facts:
    events: list[Any] = list(contact.events)
    if event is not None:
        events.append(PastEvent(event.name, event.properties, event.occurred_at))
    return Facts(contact, {}, None, utc(now), events)


def matches_trigger(funnel: Funnel, event: EventInput, contact: ContactView) -> bool:
    t = funnel.trigger
    if t.event is not None:
        ok = event.name == t.event and matches(event.properties, t.where)
    elif t.segment is not None:
        ok = event.name == SEGMENT_ENTERED and event.properties.get("segment") == t.segment
    else:
        return False  # date and api triggers never start on an event
    return ok and (
        t.condition is None or holds(t.condition, _facts(contact, event.occurred_at, event))
    )


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _anniversary(d: date, year: int) -> date:
    try:
        return d.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 2, 28)


def matches_date_trigger(funnel: Funnel, contact: ContactView, now: datetime) -> bool:
    """True on the contact's local day when the date attribute (+ offset) falls due."""
    t = funnel.trigger.date
    if t is None:
        return False
    when = _as_date(contact.attributes.get(t.attribute))
    if when is None:
        return False
    today = utc(now).astimezone(clock.resolve_zone(contact.timezone, funnel.timezone)).date()
    offset = timedelta(days=t.offset_days)
    if t.annual:
        due = any(
            _anniversary(when, y) + offset == today for y in range(today.year - 1, today.year + 2)
        )
    else:
        due = when + offset == today
    cond = funnel.trigger.condition
    return due and (cond is None or holds(cond, _facts(contact, now)))


def may_enter(
    funnel: Funnel, past_enrollments: Sequence[tuple[datetime, str]], now: datetime
) -> bool:
    """Re-entry policy. An active enrollment in the same funnel always blocks a new one."""
    if any(status == ACTIVE for _, status in past_enrollments):
        return False
    policy = funnel.reentry
    if policy.policy == "always" or not past_enrollments:
        return True
    if policy.policy == "once":
        return False
    assert policy.period is not None
    latest = max(utc(started) for started, _ in past_enrollments)
    return utc(now) - latest >= policy.period
