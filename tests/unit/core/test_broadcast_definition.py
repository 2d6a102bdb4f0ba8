"""A broadcast's definition: validated in its own terms, run as a one-step funnel whose send
honours consent, topics and quiet hours in the contact's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.core.broadcast import (
    NO_CHANNEL,
    OPTED_OUT,
    InvalidBroadcast,
    parse_broadcast,
    route,
)
from chalicelib.core.engine import ScheduleWakeup, SendMessage, start
from chalicelib.core.funnel import Funnel

from .conftest import contact

SALE = {
    "segment": "vips",
    "channels": ["sms", "email"],
    "topic": "promotions",
    "content": {
        "email": {"subject": "{{ contact.first_name }}, the spring sale", "text": "30% off"},
        "sms": {"text": "Spring sale: 30% off today"},
    },
}


def test_a_broadcast_runs_as_a_one_step_funnel_entered_once() -> None:
    broadcast = parse_broadcast("spring", SALE)
    funnel = Funnel.from_dict(broadcast.funnel_definition())
    assert funnel.name == "broadcast-spring" and funnel.topic == "promotions"
    assert funnel.trigger.api and funnel.reentry.policy == "once"
    assert [s.id for s in funnel.steps] == ["send"]
    assert funnel.policy.quiet_hours is not None  # on by default
    # No goal unless given: revenue is attributed to the message by its opens and clicks, and
    # nobody's enrollment (nor a wake-up) lingers for a conversion window.
    assert funnel.goal is None
    goal = {"event": "order_completed", "value": "total", "within": "3d"}
    with_goal = Funnel.from_dict(
        parse_broadcast("spring", {**SALE, "goal": goal}).funnel_definition()
    )
    assert with_goal.goal is not None and with_goal.goal.within is not None


def test_pace_per_channel() -> None:
    paced = parse_broadcast("spring", {**SALE, "pace": {"email": "600/min", "sms": 1}})
    assert paced.pace_per_second() == {"email": 10.0, "sms": 1.0}
    assert parse_broadcast("spring", {**SALE, "pace": {"sms": "3600/h"}}).pace_per_second() == {
        "sms": 1.0
    }


def test_problems_are_named_in_the_broadcasts_own_fields() -> None:
    def problems(data: dict) -> list[tuple[str, str]]:
        with pytest.raises(InvalidBroadcast) as caught:
            parse_broadcast("x", data)
        return caught.value.problems

    assert problems({**SALE, "content": {"email": SALE["content"]["email"]}}) == [
        ("channels[0]", "channel 'sms' has no part in template 'message'")
    ]
    typo = {"email": {"subject": "{{ custmer.first_name }}", "text": "t"}}
    assert (
        problems({**SALE, "channels": ["email"], "content": typo})[0][0] == "content.email.subject"
    )
    assert problems({"segment": "vips"})[0][1].startswith("give `content`")
    assert problems({**SALE, "segment": "not a name"})[0][0] == "segment"
    assert problems({**SALE, "pace": {"email": "fast"}}) == [
        ("pace.email", "bad rate 'fast': write it like '50/s', '600/min' or '2000/h'")
    ]
    assert problems({**SALE, "pace": {"email": "0/s"}})[0][0] == "pace.email"
    assert problems({**SALE, "pace": {"sms": "30/h"}}) == [
        ("pace.sms", "a pace must be at least 1/min, got '30/h'")
    ]


def test_the_send_honours_consent_topics_and_the_contacts_own_night() -> None:
    broadcast = parse_broadcast("spring", SALE)
    funnel = Funnel.from_dict(broadcast.funnel_definition())
    noon_utc = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)

    berlin = contact(timezone="Europe/Berlin", reachable_channels={"sms", "email"})
    assert route(broadcast, berlin) == "sms"
    out = start(funnel, berlin, None, noon_utc, "e1")
    (send,) = [d for d in out.decisions if isinstance(d, SendMessage)]
    assert send.channels == ("sms", "email")

    tokyo = contact(timezone="Asia/Tokyo", reachable_channels={"email"})  # 21:00 there
    out = start(funnel, tokyo, None, noon_utc, "e2")
    assert not [d for d in out.decisions if isinstance(d, SendMessage)]
    (held,) = [d for d in out.decisions if isinstance(d, ScheduleWakeup)]
    assert held.at == datetime(2026, 3, 4, 23, 0, tzinfo=UTC)  # 08:00 in Tokyo

    no_sms = contact(reachable_channels={"sms"}, consents={"sms": False})
    assert route(broadcast, no_sms) == NO_CHANNEL
    decided = start(funnel, no_sms, None, noon_utc, "e3").decisions
    assert not [d for d in decided if isinstance(d, SendMessage)]

    unsubscribed = contact(reachable_channels={"email"}, consents={"topic:promotions": False})
    assert route(broadcast, unsubscribed) == OPTED_OUT
    decided = start(funnel, unsubscribed, None, noon_utc, "e4").decisions
    assert not [d for d in decided if isinstance(d, SendMessage)]
