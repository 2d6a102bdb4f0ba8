"""The engine contract: decisions, stale timers, goals/exits, idempotency, purity."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.core.clock import cap_window
from chalicelib.core.engine import (
    CallWebhook,
    CancelWakeup,
    EnrollInFunnel,
    EventInput,
    Exit,
    MessageStatusInput,
    PastEvent,
    RecordConversion,
    ScheduleWakeup,
    SendMessage,
    TimerInput,
    UpdateProfile,
    decide,
    split_bucket,
    start,
)
from chalicelib.core.funnel import Cap, Funnel
from chalicelib.core.state import EnrollmentState

from .conftest import T0, at, contact, funnel, load

LINKS = {"unsubscribe": "https://af.example/u/tok", "site": "https://shop.example"}
CART = EventInput(
    "cart_updated",
    {
        "items_count": 2,
        "total": 120.0,
        "cart_url": "https://c/1",
        "currency": "EUR",
        "items": [{"name": "Shirt", "price": 70}],
    },
    T0,
    "e1",
)
ANNA = contact(
    attributes={"first_name": "Anna"}, timezone="Europe/Berlin", reachable_channels={"email"}
)


def of(decisions, kind):
    return [d for d in decisions if isinstance(d, kind)]


def fire(f: Funnel, state: EnrollmentState, c=ANNA, **kw):
    """Deliver the pending wake-up at its time."""
    assert state.wake_at is not None
    return decide(f, state, c, TimerInput(state.token), state.wake_at, links=LINKS, **kw)


def cart_started():
    f = load("abandoned_cart")
    return f, start(f, ANNA, CART, T0, "enr-1", links=LINKS)


def test_start_schedules_the_first_wait() -> None:
    _, out = cart_started()
    assert out.decisions == [ScheduleWakeup(at("+30m"), 1)]
    assert out.state.step == "wait_30m" and out.state.token == 1 and out.state.status == "active"
    assert out.state.trigger["total"] == 120.0


def test_wake_up_sends_rendered_message_with_idempotency_key_and_real_links() -> None:
    f, out = cart_started()
    out = fire(f, out.state)
    (send,) = of(out.decisions, SendMessage)
    assert send.idempotency_key == "enr-1:reminder_1:1"
    assert send.channels == ("email",)  # sms is in the fallback list, but Anna has no phone
    assert send.template_id == "reminder_1"
    email = send.content["email"]
    assert email["subject"] == "Anna, your cart is waiting"
    assert "https://af.example/u/tok" in email["html"]  # unsubscribe_url comes from links
    assert "<li>Shirt — 70 EUR</li>" in email["html"]
    assert of(out.decisions, ScheduleWakeup) == [ScheduleWakeup(at("+1d30m"), 2)]


def test_html_parts_escape_contact_data() -> None:
    f = load("opened_or_popup")
    c = replace(ANNA, attributes={"first_name": "<b>x</b>", "company": "<script>"})
    out = start(f, c, EventInput("signup_completed", {}, T0), T0, "e")
    (send,) = of(out.decisions, SendMessage)
    assert "&lt;script&gt;" in send.content["email"]["html"]
    assert send.content["email"]["subject"].startswith("<b>x</b>")  # subjects are plain text


def test_stale_and_unexpected_timers_are_ignored() -> None:
    f, out = cart_started()
    state = out.state
    for token in (0, 2, 99):
        stale = decide(f, state, ANNA, TimerInput(token), at("+30m"))
        assert stale.decisions == [] and stale.state is state
    done = fire(f, state).state
    again = decide(f, done, ANNA, TimerInput(1), at("+31m"))  # the token that already fired
    assert again.decisions == []


def test_goal_converts_from_any_step_and_cancels_the_wake_up() -> None:
    f, out = cart_started()
    state = fire(f, out.state).state  # reminder 1 sent, waiting a day (token 2)
    order = EventInput("order_completed", {"total": "99.50"}, at("+2h"), "e2")
    out = decide(f, state, ANNA, order, at("+2h"))
    assert out.decisions == [
        RecordConversion("order_completed", 99.5, at("+2h")),
        CancelWakeup(2),
        Exit("converted", "goal order_completed"),
    ]
    assert out.state.status == "converted" and out.state.value == 99.5
    for later in (TimerInput(2), order, MessageStatusInput("reminder_1", "opened", at("+3h"))):
        assert decide(f, out.state, ANNA, later, at("+3h")).decisions == []


def test_goal_after_the_attribution_window_exits_without_conversion() -> None:
    f, out = cart_started()
    state = replace(out.state, started_at=T0 - timedelta(days=8))
    out = decide(f, state, ANNA, EventInput("order_completed", {"total": 5}, T0), T0)
    assert not of(out.decisions, RecordConversion)
    assert out.state.status == "exited"


def test_exit_rule_event_and_exit_condition() -> None:
    f, out = cart_started()
    emptied = EventInput("cart_updated", {"items_count": 0}, at("+10m"))
    res = decide(f, out.state, ANNA, emptied, at("+10m"))
    assert res.decisions == [CancelWakeup(1), Exit("exited", "cart emptied")]

    f = load("rfm_winback")
    c = contact(contact_id="oleg", rfm_segment="lost", attributes={"first_name": "O"})
    out = start(f, c, EventInput("rfm_segment_changed", {"segment": "lost"}, T0), T0, "w")
    blocked = replace(c, tags=frozenset({"do_not_contact"}))
    res = decide(f, out.state, blocked, EventInput("page_viewed", {}, at("+1h")), at("+1h"))
    assert of(res.decisions, Exit) == [Exit("exited", "do not contact")]


def test_statuses_record_implied_reactions_and_unsubscribe_exits() -> None:
    f, out = cart_started()
    state = fire(f, out.state).state
    out = decide(f, state, ANNA, MessageStatusInput("reminder_1", "clicked", at("+1h")), at("+1h"))
    assert set(out.state.reactions["reminder_1"]) == {"delivered", "opened", "clicked"}
    unknown = decide(
        f, state, ANNA, MessageStatusInput("reminder_3", "opened", at("+1h")), at("+1h")
    )
    assert unknown.state.reactions == {}  # never sent by this enrollment
    out = decide(
        f, state, ANNA, MessageStatusInput("reminder_1", "unsubscribed", at("+1h")), at("+1h")
    )
    assert of(out.decisions, Exit) == [Exit("exited", "unsubscribed")]


def test_quiet_hours_defer_to_the_next_allowed_minute_and_keep_the_key() -> None:
    f = load("abandoned_cart")
    late = T0.replace(hour=19, minute=45)  # 20:45 Berlin; +30m falls into quiet hours
    out = start(f, ANNA, replace(CART, occurred_at=late), late, "enr-q")
    out = fire(f, out.state)
    assert out.decisions == [ScheduleWakeup(T0.replace(day=5, hour=7), 2)]  # 08:00 Berlin
    assert out.state.step == "reminder_1" and out.state.wake_kind == "defer"
    out = fire(f, out.state)
    (send,) = of(out.decisions, SendMessage)
    assert send.idempotency_key == "enr-q:reminder_1:1"


def test_contact_without_timezone_uses_the_funnel_timezone() -> None:
    f = load("abandoned_cart")
    nobody = replace(ANNA, timezone=None)
    late = T0.replace(hour=19, minute=45)
    out = start(f, nobody, replace(CART, occurred_at=late), late, "e")
    assert of(fire(f, out.state, nobody).decisions, ScheduleWakeup)[0].at.hour == 7


CAPPED = """
    name: capped
    trigger: {event: go}
    policy: {cap: {max: 1, per: 1h}}
    steps:
      - {id: a, kind: send, channel: email, content: {email: {subject: A, text: a}}}
      - {id: b, kind: send, channel: email, content: {email: {subject: B, text: b}}}
      - id: c
        kind: send
        channel: email
        content: {email: {subject: C, text: c}}
        policy: {cap: false}
"""


def test_cap_counts_sends_decided_in_the_same_call_and_recent_sends() -> None:
    f = funnel(CAPPED)
    out = start(f, ANNA, EventInput("go", {}, T0), T0, "cap")
    assert [d.step_id for d in of(out.decisions, SendMessage)] == ["a"]
    assert of(out.decisions, ScheduleWakeup) == [ScheduleWakeup(at("+1h"), 1)]
    busy = replace(ANNA, recent_sends=(T0 - timedelta(minutes=20, seconds=30),))
    out = start(f, busy, EventInput("go", {}, T0), T0, "cap2")
    assert of(out.decisions, SendMessage) == []
    assert of(out.decisions, ScheduleWakeup)[0].at == at("+40m")  # rounded up to the minute
    later = fire(f, out.state, busy)
    assert [d.step_id for d in of(later.decisions, SendMessage)] == ["a"]


def test_step_policy_can_switch_the_cap_off() -> None:
    f = funnel(CAPPED)
    out = start(f, ANNA, EventInput("go", {}, T0), T0, "cap")
    out = fire(f, out.state, replace(ANNA, recent_sends=(T0,)))
    assert [d.step_id for d in of(out.decisions, SendMessage)] == ["b", "c"]


UNCAPPED = """
    name: uncapped
    trigger: {event: go}
    steps:
      - {id: a, kind: send, channel: email, content: {email: {subject: A, text: a}}}
      - id: receipt
        kind: send
        channel: email
        content: {email: {subject: R, text: r}}
        policy: {cap: false}
"""


def test_the_workspace_cap_holds_across_funnels_unless_a_step_opts_out() -> None:
    """Two sends by other funnels in the last 30 days: a workspace cap of 2 per 30d defers this
    funnel's first send (which has no cap of its own) until the older one is 30 days old."""
    f = funnel(UNCAPPED)
    workspace = Cap(max=2, per=timedelta(days=30))
    busy = replace(ANNA, recent_sends=(T0 - timedelta(days=20), T0 - timedelta(days=1)))
    out = start(f, busy, EventInput("go", {}, T0), T0, "ws", workspace_cap=workspace)
    assert of(out.decisions, SendMessage) == []
    assert of(out.decisions, ScheduleWakeup)[0].at == T0 + timedelta(days=10)
    assert cap_window(f, workspace) == timedelta(days=30)
    assert cap_window(f) == timedelta(0)  # no cap anywhere: no sends need reading
    assert cap_window(funnel(CAPPED)) == timedelta(hours=1)
    later = fire(f, out.state, busy, workspace_cap=workspace)
    assert [d.step_id for d in of(later.decisions, SendMessage)] == ["a", "receipt"]
    # Without the workspace cap the same contact gets the message at once.
    assert of(start(f, busy, EventInput("go", {}, T0), T0, "free").decisions, SendMessage)


def test_version_mismatch_is_refused() -> None:
    f, out = cart_started()
    newer = Funnel.from_dict({**f.to_dict(), "version": 2})
    with pytest.raises(ValueError, match="v0"):
        decide(newer, out.state, ANNA, TimerInput(1), at("+30m"))


def test_state_round_trips_through_json_and_stays_small() -> None:
    f, out = cart_started()
    state = fire(f, out.state).state
    state = decide(
        f, state, ANNA, MessageStatusInput("reminder_1", "opened", at("+1h")), at("+1h")
    ).state
    data = json.loads(json.dumps(state.to_dict()))
    assert EnrollmentState.from_dict(data) == state
    assert len(json.dumps(data)) < 2048


def test_decide_is_pure_and_deterministic() -> None:
    f, out = cart_started()
    before = json.dumps(out.state.to_dict())
    one = fire(f, out.state)
    two = fire(f, out.state)
    assert one == two
    assert json.dumps(out.state.to_dict()) == before


def test_split_is_sticky_and_follows_the_percentages() -> None:
    f = load("rfm_winback")
    ev = EventInput("rfm_segment_changed", {"segment": "at_risk"}, T0)
    first = start(f, contact(contact_id="pavel"), ev, T0, "a").state.splits
    again = start(f, contact(contact_id="pavel"), ev, T0 + timedelta(days=100), "b").state.splits
    assert first == again == {"ab": "story"}
    counts: dict[str, int] = {}
    for i in range(4000):
        bucket = split_bucket(f"c{i}", "rfm_winback", "ab")
        name = "discount" if bucket < 45 else "story" if bucket < 90 else "holdout"
        counts[name] = counts.get(name, 0) + 1
    assert abs(counts["holdout"] / 4000 - 0.10) < 0.02
    assert abs(counts["discount"] / 4000 - 0.45) < 0.03


def test_holdout_sends_nothing_but_still_converts() -> None:
    f = load("rfm_winback")
    maria = contact(contact_id="maria", rfm_segment="lost")
    out = start(f, maria, EventInput("rfm_segment_changed", {"segment": "lost"}, T0), T0, "h")
    assert not of(out.decisions, SendMessage)
    assert out.state.splits == {"ab": "holdout"} and out.state.wake_kind == "window"
    res = decide(
        f, out.state, maria, EventInput("order_completed", {"total": 60}, at("+5d")), at("+5d")
    )
    assert res.state.status == "converted"


def test_update_is_visible_to_later_steps_in_the_same_call() -> None:
    f = funnel("""
        name: upd
        trigger: {event: go}
        steps:
          - {id: u, kind: update, set: {plan: "{{ event.plan }}"}, add_tags: [vip]}
          - id: b
            kind: branch
            cases:
              - when: {all: [{attributes: {plan: pro}}, {tag: vip}]}
                next: hook
            default: end
          - id: hook
            kind: webhook
            url: "https://crm.example/{{ contact.plan }}"
            body: {who: "{{ contact.id }}", n: 3, list: ["{{ event.plan }}"]}
          - {id: away, kind: goto, funnel: other}
    """)
    out = start(f, ANNA, EventInput("go", {"plan": "pro"}, T0), T0, "u1")
    assert out.decisions[0] == UpdateProfile({"plan": "pro"}, (), ("vip",), ())
    assert of(out.decisions, CallWebhook) == [
        CallWebhook("u1:hook:1", "https://crm.example/pro", {"who": "c1", "n": 3, "list": ["pro"]})
    ]
    assert of(out.decisions, EnrollInFunnel) == [EnrollInFunnel("other")]
    assert out.decisions[-1] == Exit("completed", "moved to funnel other")


def test_data_in_a_webhook_url_is_percent_encoded_and_cannot_move_the_host() -> None:
    f = funnel("""
        name: hook
        trigger: {event: go}
        steps:
          - id: hook
            kind: webhook
            url: "https://crm.example/l/{{ event.name }}?ref={{ contact.id }}&s={{ links.site }}"
    """)
    hostile = EventInput("go", {"name": "x@evil.example/../admin?a=1#"}, T0)
    out = start(f, ANNA, hostile, T0, "u1", links={"site": "https://shop.example"})
    [call] = of(out.decisions, CallWebhook)
    assert call.url == (
        "https://crm.example/l/x%40evil.example%2F..%2Fadmin%3Fa%3D1%23?ref=c1"
        "&s=https://shop.example"  # our own links are not data: kept as they are
    )


def test_wait_until_met_by_reaction_that_came_before_it_started() -> None:
    f = funnel("""
        name: early
        trigger: {event: go}
        steps:
          - {id: m1, kind: send, channel: email, content: {email: {subject: s, text: t}}}
          - {id: pause, kind: wait, duration: 1h}
          - {id: w, kind: wait_until, reaction: opened, message: m1, timeout: 1d, on_timeout: end}
          - {id: m2, kind: send, channel: email, content: {email: {subject: s2, text: t}}}
    """)
    out = start(f, ANNA, EventInput("go", {}, T0), T0, "x")
    st = decide(f, out.state, ANNA, MessageStatusInput("m1", "opened", at("+10m")), at("+10m"))
    out = fire(f, st.state)
    assert [d.step_id for d in of(out.decisions, SendMessage)] == ["m2"]


def test_wait_until_event_with_filter_and_timeout() -> None:
    f = load("core_offer")
    c = contact(reachable_channels={"email"})
    out = start(f, c, EventInput("order_completed", {"tier": "tripwire"}, T0), T0, "co")
    out = fire(f, out.state, c)  # core offer sent, waiting for checkout_started (token 2)
    other = decide(
        f,
        out.state,
        c,
        EventInput("checkout_started", {"tier": "upsell"}, at("+1d1h")),
        at("+1d1h"),
    )
    assert other.decisions == [] and other.state.step == "checkout"
    met = decide(
        f, out.state, c, EventInput("checkout_started", {"tier": "core"}, at("+1d1h")), at("+1d1h")
    )
    assert met.decisions == [CancelWakeup(2), ScheduleWakeup(at("+1d3h"), 3)]
    timeout = fire(f, out.state, c)
    assert [d.step_id for d in of(timeout.decisions, SendMessage)] == ["reminder"]


def test_wait_at_time_of_day_on_weekdays() -> None:
    f = funnel("""
        name: monday
        trigger: {event: go}
        policy: {timezone: Europe/Berlin}
        steps:
          - {id: w, kind: wait, at: "09:30", weekdays: [mon]}
          - {id: m, kind: send, channel: email, content: {email: {subject: s, text: t}}}
    """)
    out = start(f, ANNA, EventInput("go", {}, T0), T0, "x")  # Monday 10:00 Berlin
    assert out.decisions == [ScheduleWakeup(at("+6d23h30m"), 1)]


def test_template_that_fails_on_real_data_skips_the_send_instead_of_crashing() -> None:
    f = funnel("""
        name: broken
        trigger: {event: go}
        sample: {event: {n: 1, zero: 1}}
        steps:
          - id: m
            kind: send
            channel: email
            content: {email: {subject: "{{ event.n | divided_by: event.zero }}", text: t}}
          - {id: after, kind: send, channel: email, content: {email: {subject: ok, text: t}}}
    """)
    out = start(f, ANNA, EventInput("go", {"n": 1, "zero": 0}, T0), T0, "x")
    assert [d.step_id for d in of(out.decisions, SendMessage)] == ["after"]
    assert any(t.kind == "skip" and "template error" in t.detail for t in out.trace)


def test_no_reachable_channel_skips_the_send() -> None:
    f = load("read_no_click")
    nobody = contact(reachable_channels=set(), consents={"email": False})
    out = start(f, nobody, EventInput("promo_requested", {"product": "P", "url": "u"}, T0), T0, "x")
    assert of(out.decisions, SendMessage) == []
    assert out.trace[1].kind == "skip"


def test_consent_false_blocks_a_channel() -> None:
    f = load("abandoned_cart")
    c = replace(ANNA, reachable_channels=frozenset({"email", "sms"}), consents={"email": False})
    out = fire(f, start(f, c, CART, T0, "x").state, c)
    assert of(out.decisions, SendMessage)[0].channels == ("sms",)


def test_runaway_loop_is_stopped_by_the_safety_net() -> None:
    data = {
        "name": "loop",
        "trigger": {"event": "go"},
        "steps": [
            {"id": "a", "kind": "update", "add_tags": ["x"]},
            {"id": "b", "kind": "goto", "step": "a"},
        ],
    }
    f = Funnel.from_dict(data)  # from_dict does not run the validator's loop check
    out = start(f, ANNA, EventInput("go", {}, T0), T0, "x")
    assert out.decisions[-1] == Exit("exited", "loop without waiting at step 'a'")
    assert len(of(out.decisions, UpdateProfile)) == 1


def test_input_event_already_in_history_is_not_counted_twice() -> None:
    f = funnel("""
        name: twice
        trigger: {api: true}
        steps:
          - {id: w, kind: wait_until, condition: {event: ping, at_least: 2}, timeout: 1d}
          - {id: m, kind: send, channel: email, content: {email: {subject: s, text: t}}}
    """)
    out = start(f, ANNA, None, T0, "x")
    ping = EventInput("ping", {}, at("+1m"))
    c = replace(ANNA, events=(PastEvent("ping", {}, at("+1m")),))
    assert of(decide(f, out.state, c, ping, at("+1m")).decisions, SendMessage) == []
    c2 = replace(ANNA, events=(PastEvent("ping", {}, T0), PastEvent("ping", {}, at("+1m"))))
    assert of(decide(f, out.state, c2, ping, at("+1m")).decisions, SendMessage)


def test_a_wait_until_anchored_on_entry_is_a_deadline() -> None:
    f = funnel(
        """
        name: deadline
        trigger: {event: go}
        steps:
          - {id: early, kind: wait, duration: 1d}
          - id: until_day_7
            kind: wait_until
            event: replied
            timeout: 7d
            anchor: enrollment
          - {id: after, kind: send, channel: email, content: {email: {subject: s, text: t}}}
        """
    )
    entered = start(f, ANNA, None, T0, "e1")
    out = fire(f, entered.state)  # day 1: the deadline is 6 days away, not 7
    assert out.state.wake_at == T0 + timedelta(days=7)
    state = entered.state.copy()
    state.started_at = T0 - timedelta(days=30)  # entered long ago: the deadline has passed
    out = fire(f, state)
    assert [d.step_id for d in of(out.decisions, SendMessage)] == ["after"]
    assert any(t.kind == "timeout" for t in out.trace)
