"""Contact figures (orders, spend, visits, touches, RFM, consents) in conditions, segments and
templates; a trait never fakes one; the validator names fields nobody provides."""

from __future__ import annotations

import pytest

from chalicelib.core import figures
from chalicelib.core.engine import EventInput, SendMessage, start
from chalicelib.core.problems import FunnelValidationError
from chalicelib.core.segments import InvalidSegment, is_member, parse_segment
from chalicelib.core.simulator import Simulation
from chalicelib.core.story import parse_story

from .conftest import T0, contact, funnel

REPEAT_BUYER = {
    "orders_count": 3,
    "total_spent": 420.5,
    "lifetime_value": 420.5,
    "sessions": 9,
    "page_views": 40,
    "first_touch": {"source": "google", "medium": "cpc"},
    "rfm_segment": "loyal",
    "consents": {"email": True, "sms": False},
}

BRANCHY = """
    name: vip_welcome
    trigger: {event: signed_up}
    templates:
      vip:
        email:
          subject: "{{ contact.first_name }}, thanks for {{ contact.orders_count }} orders"
          text: "You came to us from {{ contact.first_touch.source }}."
      plain:
        email: {subject: Welcome, text: Hello}
    steps:
      - id: gate
        kind: branch
        cases:
          - when:
              attributes:
                orders_count: {gte: 2}
                total_spent: {gt: 400}
                sessions: {gte: 5}
                first_touch.source: google
            next: vip
        default: plain
      - {id: vip, kind: send, channel: email, template: vip, next: end}
      - {id: plain, kind: send, channel: email, template: plain}
"""


def _first_send(contact_view):
    f = funnel(BRANCHY)
    out = start(f, contact_view, EventInput("signed_up", {}, T0), T0, "e1")
    (send,) = [d for d in out.decisions if isinstance(d, SendMessage)]
    return send


def test_conditions_and_templates_see_the_figures() -> None:
    send = _first_send(contact(attributes={"first_name": "Ann"}, figures=REPEAT_BUYER))
    assert send.step_id == "vip"
    assert send.content["email"]["subject"] == "Ann, thanks for 3 orders"
    assert send.content["email"]["text"] == "You came to us from google."


def test_a_trait_never_fakes_a_figure() -> None:
    """`identify {orders_count: 99}` from a web page is a claim; the figure stays what we saw."""
    faked = {"orders_count": 99, "total_spent": 10_000, "sessions": 50}
    newcomer = {"orders_count": 0, "total_spent": 0, "sessions": 1}
    send = _first_send(contact(attributes=faked, figures=newcomer))
    assert send.step_id == "plain"


def test_segments_use_figures_and_reject_unknown_fields() -> None:
    definition = parse_segment(
        "google_repeaters",
        {"condition": {"attributes": {"orders_count": {"gte": 2}, "first_touch.source": "google"}}},
    )
    assert is_member(definition, contact(figures=REPEAT_BUYER), T0)
    assert not is_member(definition, contact(figures={"orders_count": 1}), T0)
    with pytest.raises(InvalidSegment, match=r"first_touch\.sorce.*known: source"):
        parse_segment("x", {"condition": {"attributes": {"first_touch.sorce": "google"}}})
    with pytest.raises(InvalidSegment, match="did you mean the figure 'orders_count'"):
        parse_segment("x", {"condition": {"attributes": {"order_count": {"gte": 2}}}})


def test_validator_names_unknown_fields_in_conditions_and_templates() -> None:
    bad = (
        BRANCHY.replace("first_touch.source: google", "first_touch.sorce: google")
        .replace("contact.orders_count", "contact.order_count")
        .replace("sessions: {gte: 5}", "sessions.count: {gte: 5}")
    )
    with pytest.raises(FunnelValidationError) as caught:
        funnel(bad)
    messages = sorted(f"{p.field}: {p.message}" for p in caught.value.problems)
    assert any(
        "when.attributes.first_touch.sorce: unknown field 'first_touch.sorce'" in m
        for m in messages
    ), messages
    assert any("'sessions' is a single value" in m for m in messages), messages
    assert any(
        "templates.vip.email.subject: unknown field 'contact.order_count'" in m for m in messages
    ), messages
    assert len(messages) == 3


def test_common_attribute_names_are_not_taken_for_typos() -> None:
    for name in ("first_name", "last_name", "plan", "company", "orders", "source", "language"):
        assert figures.unknown_field(name) is None


def test_the_simulator_counts_orders_refunds_and_cancellations() -> None:
    story = parse_story(
        """
        contact: {id: c1, channels: [email], figures: {orders_count: 1, total_spent: 50}}
        inputs:
          - "+0: event order_completed {order_id: a, total: 120}"
          - "+1h: event order_refunded {order_id: a, amount: 20}"
          - "+2h: event order_completed {order_id: b, total: 30}"
          - "+3h: event order_cancelled {order_id: b, total: 30}"
        expect: {sends: []}
        """.replace("\n        ", "\n"),
        "s.story.yaml",
    )
    run = Simulation([funnel(BRANCHY)], story)
    run.run()
    final = run.contact.figures
    assert final["orders_count"] == 2
    assert final["total_spent"] == final["lifetime_value"] == 150
