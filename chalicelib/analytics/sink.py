"""Analytics hears every stored event (it sits in front of the runtime in the event sink):
new contacts and events per day, orders (buyers, lifetime value, cohorts, last-touch
attribution), merges, and the incremental evaluation of saved segments.

The worker hands it each batch's events per contact. Analytics failing must never stop the
funnels: errors are logged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from chalicelib.analytics import attribution, contact_stats, counters, keys, segments
from chalicelib.analytics.orders import is_order, order_value
from chalicelib.analytics.tally import Tally, money
from chalicelib.events import StoredEvent

log = logging.getLogger(__name__)
MERGED = "contact_merged"


class AnalyticsSink:
    def __init__(self, attribution_window: timedelta, clock: Callable[[], datetime]) -> None:
        self.window = attribution_window
        self.clock = clock

    def handle(self, events: Sequence[StoredEvent]) -> None:
        by_contact: dict[str, list[StoredEvent]] = defaultdict(list)
        for event in events:
            if event.contact_id:
                by_contact[event.contact_id].append(event)
        for contact_id, group in by_contact.items():
            try:
                counters.write(self._contact_events(contact_id, group))
                segments.on_events(contact_id, group, self.clock())
            except Exception:
                log.exception("analytics failed on the events of %s", contact_id)

    def _contact_events(self, contact_id: str, events: Sequence[StoredEvent]) -> Tally:
        tally = Tally()
        first = min(event.timestamp for event in events)
        sighting = contact_stats.sight(contact_id, first)
        cohort = (sighting.stats.cohort, sighting.stats.campaign)
        if sighting.new:
            tally.add(keys.day_scope(first), keys.day_metric(first, "contacts"))
            tally.add(keys.COHORTS_SCOPE, keys.cohort_metric(*cohort, "contacts"))
        for event in sorted(events, key=lambda e: e.timestamp):
            tally.add(keys.day_scope(event.timestamp), keys.day_metric(event.timestamp, "events"))
            if is_order(event):
                self._order(tally, contact_id, cohort, event)
            elif event.name == MERGED:
                absorbed = str(event.properties.get("absorbed_contact_id") or "")
                _merge(tally, contact_id, absorbed, event.timestamp)
        return tally

    def _order(
        self, tally: Tally, contact_id: str, cohort: tuple[str, str], event: StoredEvent
    ) -> None:
        at, value = event.timestamp, order_value(event.properties)
        stats = contact_stats.record_order(contact_id, value, at)
        day = keys.day_scope(at)
        tally.add(day, keys.day_metric(at, "orders"))
        tally.add(day, keys.day_metric(at, "revenue"), value)
        if int(stats.orders) == 1:
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
