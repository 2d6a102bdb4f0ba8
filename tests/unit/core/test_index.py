"""Routing events to funnels, trigger matching, date triggers and the re-entry policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.core.engine import EventInput
from chalicelib.core.index import TriggerIndex, matches_date_trigger, matches_trigger, may_enter

from .conftest import T0, contact, funnel, load

ALL = [
    load(n)
    for n in (
        "abandoned_cart",
        "welcome_chain",
        "core_offer",
        "telegram_guide",
        "rfm_winback",
        "upsell",
        "tripwire_offer",
    )
]
INDEX = TriggerIndex.build(ALL)


def names(funnels) -> set[str]:
    return {f.name for f in funnels}


def test_candidates_are_funnels_that_mention_the_event() -> None:
    # rfm_winback and telegram_guide have condition-driven exits/waits: they see every event.
    wildcard = {"rfm_winback", "telegram_guide"}
    assert names(INDEX.candidates("cart_updated")) == {"abandoned_cart"} | wildcard  # trigger+exit
    assert names(INDEX.candidates("order_completed")) >= {
        "abandoned_cart",
        "welcome_chain",
        "core_offer",
        "upsell",
    }  # goals
    assert names(INDEX.candidates("checkout_started")) == {"core_offer"} | wildcard  # wait_until
    assert names(INDEX.candidates("unsubscribed")) == {"welcome_chain"} | wildcard  # exit rule
    assert names(INDEX.candidates("page_viewed")) == wildcard


def test_entry_candidates_only_list_triggers() -> None:
    assert names(INDEX.entry_candidates("order_completed")) == {"core_offer", "upsell"}
    assert INDEX.entry_candidates("checkout_started") == []
    assert INDEX.get("upsell") is not None and INDEX.get("nope") is None
    assert len(INDEX) == 7


def test_matches_trigger_checks_filters_and_contact_conditions() -> None:
    cart = load("abandoned_cart")
    c = contact()
    assert matches_trigger(cart, EventInput("cart_updated", {"items_count": 1}, T0), c)
    assert not matches_trigger(cart, EventInput("cart_updated", {"items_count": 0}, T0), c)
    assert not matches_trigger(cart, EventInput("cart_updated", {}, T0), c)
    vip = funnel("""
        name: vip_only
        trigger: {segment: vip, condition: {reachable: email}}
        steps: [{id: w, kind: wait, duration: 1d}]
    """)
    entered = EventInput("segment_entered", {"segment": "vip"}, T0)
    assert matches_trigger(vip, entered, c)
    assert not matches_trigger(vip, entered, contact(reachable_channels=set()))
    assert not matches_trigger(vip, EventInput("segment_entered", {"segment": "x"}, T0), c)


BIRTHDAY = """
    name: birthday
    trigger: {date: {attribute: birthday, offset_days: -3, annual: true}}
    policy: {timezone: Europe/Berlin}
    reentry: {policy: once_per_period, period: 300d}
    steps: [{id: w, kind: wait, duration: 1d}]
"""


def test_annual_date_trigger_with_offset_in_the_contacts_zone() -> None:
    f = funnel(BIRTHDAY)
    c = contact(attributes={"birthday": "1990-03-07"}, timezone="Asia/Tokyo")
    assert matches_date_trigger(f, c, datetime(2024, 3, 4, 1, tzinfo=UTC))  # 10:00 in Tokyo
    assert not matches_date_trigger(f, c, datetime(2024, 3, 4, 16, tzinfo=UTC))  # already 5th
    new_year = contact(attributes={"birthday": "2001-01-02"})
    assert matches_date_trigger(f, new_year, datetime(2024, 12, 30, 12, tzinfo=UTC))
    leap = contact(attributes={"birthday": "2000-02-29"})
    assert matches_date_trigger(f, leap, datetime(2023, 2, 25, 12, tzinfo=UTC))
    assert not matches_date_trigger(f, contact(attributes={"birthday": "soon"}), T0)


def test_one_off_date_trigger() -> None:
    f = funnel(
        BIRTHDAY.replace(
            "birthday, offset_days: -3, annual: true", "subscription_ends, offset_days: -7"
        )
    )
    c = contact(attributes={"subscription_ends": "2024-03-11T00:00:00Z"})
    assert matches_date_trigger(f, c, T0)
    assert not matches_date_trigger(f, c, T0 + timedelta(days=365))


def test_reentry_policies() -> None:
    cart, welcome = load("abandoned_cart"), load("welcome_chain")  # 7-day period, once
    always = funnel(
        "name: a\ntrigger: {event: x}\nreentry: {policy: always}\n"
        "steps: [{id: w, kind: wait, duration: 1d}]"
    )
    old = [(T0 - timedelta(days=8), "converted")]
    recent = [(T0 - timedelta(days=2), "completed")]
    assert may_enter(cart, [], T0) and may_enter(cart, old, T0)
    assert not may_enter(cart, recent, T0)
    assert may_enter(welcome, [], T0) and not may_enter(welcome, old, T0)
    assert may_enter(always, recent, T0)
    assert not may_enter(always, [(T0 - timedelta(days=30), "active")], T0)


def test_only_funnels_whose_conditions_count_past_events_need_the_history() -> None:
    # The welcome chains' day-8 offer asks `not: {event: request_submitted}`; a trigger, goal
    # or exit naming an event is heard as it arrives, and a reaction is the enrollment's own.
    assert load("welcome_chain").reads_history
    assert load("welcome_chain_strict").reads_history
    assert not load("abandoned_cart").reads_history
    assert not load("rfm_winback").reads_history
