"""The site-wide funnel: visitors -> product viewers -> carts -> checkouts -> buyers -> repeat
buyers, the sales funnel a shop measures ("800 visitors, 200 leads, 50 buyers").

Each contact reaches each stage once, the first time it does the stage's event; a later stage
implies the earlier ones (a buyer who never viewed a product page still counts as a product
viewer and a cart), so the figures always narrow. Reaching stages is one conditional write on
the contact's stats (the stages it has reached), so a replayed event counts nothing twice.

Figures, as counters (read with one Query per month, never from events):
- the cohort view, `site#{YYYY-MM}` / `{first seen day}#{first-touch source}#{stage}`: of the
  contacts first seen that day from that source, how many have reached the stage so far
  (per day, per week, per source: conversion between stages within one group of people);
- the activity view, on the day scope: `product_viewers`, `carts`, `checkouts`,
  `repeat_buyers` first reached that day (new contacts and first orders are there already).
A merge moves the absorbed contact's stages to the surviving one: one person, counted once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.analytics import counters, keys
from chalicelib.analytics.significance import rate
from chalicelib.analytics.tally import Tally
from chalicelib.core.figures import normalised_name
from chalicelib.storage.models import ContactStats

STAGES = ("visitors", "product_viewers", "carts", "checkouts", "buyers", "repeat_buyers")
VISITOR, PRODUCT_VIEWER, CART, CHECKOUT, BUYER, REPEAT_BUYER = range(len(STAGES))
EVENT_STAGES = {  # Segment's e-commerce spec names, normalised
    "product_viewed": PRODUCT_VIEWER,
    "product_added": CART,
    "cart_updated": CART,
    "checkout_started": CHECKOUT,
}
DAY_FIGURES = {  # the activity view's names on the day scope
    PRODUCT_VIEWER: "product_viewers",
    CART: "carts",
    CHECKOUT: "checkouts",
    REPEAT_BUYER: "repeat_buyers",
}
MAX_ATTEMPTS = 5


def stage_of_event(name: str) -> int:
    return EVENT_STAGES.get(normalised_name(name), VISITOR)


def scope(first_seen: datetime) -> str:
    return f"site#{first_seen.strftime('%Y-%m')}"


def metric(first_seen: datetime, source: str, stage: int) -> str:
    return f"{first_seen.strftime('%Y-%m-%d')}#{keys._clean(source)}#{STAGES[stage]}"


def reach(stats: ContactStats, stage: int, at: datetime, tally: Tally, key: str = "") -> None:
    """The contact reached `stage` (and so every one before it) at `at`, by the event `key`:
    count what is new. The stages remember the event that reached them, so the same event
    handled again (a redelivered batch) counts the same stages again, and no other does."""
    for _ in range(MAX_ATTEMPTS):
        known = set(stats.stages or ())
        by = dict(stats.stage_events.as_dict() if stats.stage_events else {})
        mine = [s for s in STAGES[: stage + 1] if s in known and key and by.get(s) == key]
        new = [s for s in STAGES[: stage + 1] if s not in known]
        if not new:
            _count(tally, stats, [STAGES.index(name) for name in mine], at, 1)
            return
        condition = ContactStats.contact_id.exists()
        for name in new:
            condition &= ~ContactStats.stages.contains(name)
        actions = [ContactStats.stages.add(set(new))]
        if key:
            actions.append(ContactStats.stage_events.set({**by, **dict.fromkeys(new, key)}))
            # A condition has no truth value (PynamoDB raises): choose, don't `or`.
            events = ContactStats.stage_events
            condition &= events == by if by else events.does_not_exist()
        try:
            stats.update(actions=actions, condition=condition)
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            stats.refresh(consistent_read=True)  # a concurrent event reached some first
            continue
        _count(tally, stats, [STAGES.index(name) for name in [*mine, *new]], at, 1)
        return


def absorb(
    survivor: ContactStats, gone: ContactStats, at: datetime, tally: Tally, key: str = ""
) -> None:
    """A merge: the absorbed contact's stages leave its cohort, the survivor reaches them."""
    reached = [STAGES.index(name) for name in gone.stages or () if name in STAGES]
    if not reached:
        return
    _count(tally, gone, reached, None, -1)
    reach(survivor, max(reached), at, tally, key)


def _count(
    tally: Tally, stats: ContactStats, stages: Iterable[int], at: datetime | None, amount: int
) -> None:
    for stage in stages:
        tally.add(scope(stats.first_seen), metric(stats.first_seen, stats.cohort, stage), amount)
        if at is not None and stage in DAY_FIGURES:
            tally.add(keys.day_scope(at), keys.day_metric(at, DAY_FIGURES[stage]))


# --- reading -----------------------------------------------------------------------------


def funnel(first: date, last: date, by: str = "day") -> dict[str, Any]:
    """Contacts first seen from `first` to `last` (inclusive): the stages they reached, in total
    and per `day`, `week` (ISO, from Monday) or first-touch `source`."""
    found: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: dict.fromkeys(STAGES, 0))
    month = first.replace(day=1)
    while month <= last:
        at = datetime(month.year, month.month, 1)
        for name, value in counters.read_range(scope(at), f"{first}", f"{last}~").items():
            day, source, stage = name.split("#")
            found[(day, source)][stage] += value
        month = (month + timedelta(days=32)).replace(day=1)
    groups: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(STAGES, 0))
    total = dict.fromkeys(STAGES, 0.0)
    for (day, source), figures in found.items():
        key = _group(day, source, by)
        for stage, value in figures.items():
            groups[key][stage] += value
            total[stage] += value
    if by in ("day", "week"):
        for key in _periods(first, last, by):
            groups.setdefault(key, dict.fromkeys(STAGES, 0))
    rows = [{by: key, **_with_rates(figures)} for key, figures in sorted(groups.items())]
    return {"stages": list(STAGES), "by": by, "total": _with_rates(total), "rows": rows}


def _group(day: str, source: str, by: str) -> str:
    if by == "source":
        return source
    if by == "week":
        moment = date.fromisoformat(day)
        return str(moment - timedelta(days=moment.weekday()))
    return day


def _periods(first: date, last: date, by: str) -> list[str]:
    step = timedelta(days=7 if by == "week" else 1)
    start = first - timedelta(days=first.weekday()) if by == "week" else first
    out = []
    while start <= last:
        out.append(str(start))
        start += step
    return out


def _with_rates(figures: dict[str, float]) -> dict[str, Any]:
    """The stage counts, each stage's share of the one before, and each's share of visitors."""
    out: dict[str, Any] = {stage: int(figures[stage]) for stage in STAGES}
    out["from_previous"] = {
        stage: rate(figures[stage], figures[STAGES[i - 1]]) for i, stage in enumerate(STAGES) if i
    }
    out["from_visitors"] = {stage: rate(figures[stage], figures[STAGES[0]]) for stage in STAGES[1:]}
    return out
