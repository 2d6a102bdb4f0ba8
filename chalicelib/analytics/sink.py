"""Analytics hears every event the worker handles, a contact's events of one batch at a time:
new contacts and events per day, the site-wide funnel's stages, orders (buyers, lifetime value,
cohorts, last-touch attribution, refunds and cancellations through each order's ledger),
merges, and the incremental evaluation of saved segments.

`figures` returns what each event adds to the counters instead of writing them: the worker puts
one tally per batch (chalicelib.analytics.fold). Every figure is the same when a redelivered
event is handled again: what an event changed remembers the event (the first sighting, a
stage reached, an order counted, a ledger change), and a replay reports it again. A failure is
raised: the worker reports the contact's records back to the stream, which delivers them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from pynamodb.connection import Connection

from chalicelib.analytics import (
    attribution,
    contact_stats,
    keys,
    order_ledger,
    segments,
    site_funnel,
)
from chalicelib.analytics.orders import is_cancellation, is_order, is_refund, order_value
from chalicelib.analytics.tally import Tally, money
from chalicelib.core.figures import REVENUE_FIELDS
from chalicelib.events import StoredEvent
from chalicelib.storage.models import ContactStats, Message

log = logging.getLogger(__name__)
MERGED = "contact_merged"


class AnalyticsSink:
    def __init__(
        self,
        attribution_window: timedelta,
        clock: Callable[[], datetime],
        connection: Callable[[], Connection],
    ) -> None:
        self.window = attribution_window
        self.clock = clock
        self.connection = connection  # segment changes and order ledgers commit in transactions

    def figures(
        self, contact_id: str, events: Sequence[StoredEvent], fresh: bool | None = None
    ) -> list[Tally]:
        """One contact's events of a batch: what each adds to the counters (same order as
        `events`); saved segments are re-evaluated for the contact. `fresh`: whether these
        events began the contact's profile, if known: a known contact's page views need no read
        of its stats (orders, merges and the site funnel's later stages do)."""
        if not events:
            return []
        tallies = {id(event): Tally() for event in events}
        ordered = sorted(events, key=lambda e: e.timestamp)
        first = ordered[0]
        if fresh is False and not any(_needs_stats(event) for event in events):
            for event in ordered:
                tallies[id(event)].add(
                    keys.day_scope(event.timestamp), keys.day_metric(event.timestamp, "events")
                )
        else:
            sighting = contact_stats.sight(contact_id, first.timestamp, first.event_id)
            stats = sighting.stats
            cohort = (stats.cohort, stats.campaign)
            if sighting.new:
                tally = tallies[id(first)]
                at = first.timestamp
                tally.add(keys.day_scope(at), keys.day_metric(at, "contacts"))
                tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*cohort, "contacts"))
            for event in ordered:
                self._event(tallies[id(event)], contact_id, cohort, event, stats)
        segments.on_events(contact_id, events, self.clock(), self.connection())
        return [tallies[id(event)] for event in events]

    def _event(
        self,
        tally: Tally,
        contact_id: str,
        cohort: tuple[str, str],
        event: StoredEvent,
        stats: ContactStats,
    ) -> None:
        at = event.timestamp
        tally.add(keys.day_scope(at), keys.day_metric(at, "events"))
        if not stats.merged_into:
            stage = site_funnel.stage_of_event(event.name)
            site_funnel.reach(stats, stage, at, tally, event.event_id)
        if is_order(event):
            self._order(tally, contact_id, cohort, event, stats)
        elif is_refund(event) or is_cancellation(event):
            self._take_back(tally, contact_id, cohort, event)
        elif event.name == MERGED:
            absorbed = str(event.properties.get("absorbed_contact_id") or "")
            _merge(tally, contact_id, absorbed, at, event.event_id)

    def _order(
        self,
        tally: Tally,
        contact_id: str,
        cohort: tuple[str, str],
        event: StoredEvent,
        sighted: ContactStats,
    ) -> None:
        at, value = event.timestamp, order_value(event.properties)
        order = contact_stats.record_order(contact_id, value, at, event.event_id)
        orders = int(order.stats.orders)
        day = keys.day_scope(at)
        tally.add(day, keys.day_metric(at, "orders"))
        tally.add(day, keys.day_metric(at, "revenue"), value)
        if order.first:
            tally.add(day, keys.day_metric(at, "first_orders"))
            tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*cohort, "buyers"))
        tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*cohort, "orders"))
        tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*cohort, "revenue"), value)
        touched = attribution.last_touched(contact_id, at, self.window)
        if touched is not None:
            tally.update(attribution.credit(touched, value, at))
        order_id = str(event.properties.get("order_id") or "")
        if order_id:
            credited = touched.message_id if touched is not None else None
            change = order_ledger.record_order(
                self.connection(), order_id, event.event_id, contact_id, value, credited
            )
            if change is not None:  # counted before, or cancelled before it arrived
                orders += change.delta.orders
                _moved(tally, change, cohort, at, orders)
        if orders >= 1 and not sighted.merged_into:
            stage = site_funnel.REPEAT_BUYER if orders >= 2 else site_funnel.BUYER
            site_funnel.reach(sighted, stage, at, tally, event.event_id)

    def _take_back(
        self, tally: Tally, contact_id: str, cohort: tuple[str, str], event: StoredEvent
    ) -> None:
        """A refund or cancellation: the order counts for less, or for nothing."""
        order_id = str(event.properties.get("order_id") or "")
        if not order_id:
            log.info("%s of %s names no order: figures unchanged", event.name, contact_id)
            return
        at = event.timestamp
        if is_refund(event):
            amount = order_value(event.properties, ("amount", *REVENUE_FIELDS))
            tally.add(keys.day_scope(at), keys.day_metric(at, "refunds"), amount)
            change = order_ledger.refund(
                self.connection(), order_id, event.event_id, contact_id, amount
            )
        else:
            tally.add(keys.day_scope(at), keys.day_metric(at, "cancellations"))
            change = order_ledger.cancel(self.connection(), order_id, event.event_id, contact_id)
        if change is not None:
            orders = contact_stats.sight(contact_id, at).stats.orders
            _moved(tally, change, cohort, at, int(orders))


def _moved(
    tally: Tally, change: order_ledger.Change, cohort: tuple[str, str], at: datetime, now: int
) -> None:
    """Day, cohort and attribution figures follow an order that counts for less (or more)."""
    orders, value = change.delta.orders, change.delta.value
    day = keys.day_scope(at)
    tally.add(day, keys.day_metric(at, "orders"), orders)
    tally.add(day, keys.day_metric(at, "revenue"), value)
    tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*cohort, "orders"), orders)
    tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*cohort, "revenue"), value)
    before = now - orders
    if before > 0 and now <= 0:
        tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*cohort, "buyers"), -1)
    elif before <= 0 < now:
        tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*cohort, "buyers"))
    if change.credited_message:
        try:
            message = Message.get(change.credited_message)
        except Message.DoesNotExist:
            return
        tally.update(attribution.credit(message, value, at, orders))


def _needs_stats(event: StoredEvent) -> bool:
    """Events whose figures read the contact's stats: orders and their corrections, merges,
    and the site funnel's stages past the first visit."""
    return (
        is_order(event)
        or is_refund(event)
        or is_cancellation(event)
        or event.name == MERGED
        or site_funnel.stage_of_event(event.name) != site_funnel.VISITOR
    )


def _merge(tally: Tally, survivor: str, absorbed: str, at: datetime, key: str) -> None:
    """One person counted twice becomes one: the cohort figures follow the surviving contact."""
    if not absorbed:
        return
    moved = contact_stats.absorb(survivor, absorbed, at)
    if moved is None:
        return
    gone = moved.gone
    old = (gone.cohort, gone.campaign)
    tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*old, "contacts"), -1)
    if gone.orders:
        revenue = money(gone.revenue)
        tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*old, "buyers"), -1)
        tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*old, "orders"), -int(gone.orders))
        tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*old, "revenue"), -revenue)
        new = moved.survivor_cohort
        if not moved.survivor_was_buyer:
            tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*new, "buyers"))
        tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*new, "orders"), int(gone.orders))
        tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*new, "revenue"), revenue)
    for segment in gone.segments or ():
        tally.add(keys.segment_scope(segment), "members", -1)
    site_funnel.absorb(contact_stats.sight(survivor, at).stats, gone, at, tally, key)
