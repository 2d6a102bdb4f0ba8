"""Analytics hears every event the worker handles, a contact's events of one batch at a time:
new contacts and events per day, orders (buyers, lifetime value, cohorts, last-touch
attribution), merges, and the incremental evaluation of saved segments.

`figures` returns what each event adds to the counters instead of writing them: the worker puts
one tally per batch (chalicelib.analytics.fold). Every figure is the same when a redelivered
event is handled again (see contact_stats). A failure is raised: the worker reports the
contact's records back to the stream, which delivers them again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from pynamodb.connection import Connection

from chalicelib.analytics import attribution, contact_stats, keys, segments
from chalicelib.analytics.orders import is_order, order_value
from chalicelib.analytics.tally import Tally, money
from chalicelib.events import StoredEvent

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
        self.connection = connection  # segment changes commit in a transaction

    def figures(
        self, contact_id: str, events: Sequence[StoredEvent], fresh: bool | None = None
    ) -> list[Tally]:
        """One contact's events of a batch, in time order: what each adds to the counters (same
        order as `events`); saved segments are re-evaluated for the contact. `fresh`: whether
        these events began the contact's profile, if known: a known contact's page views need
        no read of its stats (orders and merges do, for the cohort)."""
        if not events:
            return []
        tallies = {id(event): Tally() for event in events}
        ordered = sorted(events, key=lambda e: e.timestamp)
        first = ordered[0]
        cohort = ("", "")
        needs_stats = fresh is not False or any(
            is_order(event) or event.name == MERGED for event in events
        )
        sighting = (
            contact_stats.sight(contact_id, first.timestamp, first.event_id)
            if needs_stats
            else None
        )
        if sighting is not None:
            cohort = (sighting.stats.cohort, sighting.stats.campaign)
        if sighting is not None and sighting.new:
            tally = tallies[id(first)]
            tally.add(keys.day_scope(first.timestamp), keys.day_metric(first.timestamp, "contacts"))
            tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*cohort, "contacts"))
        for event in ordered:
            tally = tallies[id(event)]
            tally.add(keys.day_scope(event.timestamp), keys.day_metric(event.timestamp, "events"))
            if is_order(event):
                self._order(tally, contact_id, cohort, event)
            elif event.name == MERGED:
                absorbed = str(event.properties.get("absorbed_contact_id") or "")
                _merge(tally, contact_id, absorbed, event.timestamp)
        segments.on_events(contact_id, events, self.clock(), self.connection())
        return [tallies[id(event)] for event in events]

    def _order(
        self, tally: Tally, contact_id: str, cohort: tuple[str, str], event: StoredEvent
    ) -> None:
        at, value = event.timestamp, order_value(event.properties)
        order = contact_stats.record_order(contact_id, value, at, event.event_id)
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


def _merge(tally: Tally, survivor: str, absorbed: str, at: datetime) -> None:
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
