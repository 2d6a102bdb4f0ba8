"""Property-based tests: over random stories (and random funnels), the engine never decides a
message twice for the same enrollment step, decides nothing after a goal or exit, keeps quiet
hours and caps, ignores stale wake-ups, and is reproducible from the same inputs — including
when its state is stored and reloaded between every call."""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.core import clock
from chalicelib.core.engine import (
    CallWebhook,
    Decision,
    EventInput,
    Exit,
    MessageStatusInput,
    PastEvent,
    ScheduleWakeup,
    SendMessage,
    TimerInput,
    UpdateProfile,
    decide,
    start,
)
from chalicelib.core.funnel import Funnel, SendStep
from chalicelib.core.index import matches_trigger
from chalicelib.core.plain import adapter
from chalicelib.core.state import ContactView, EnrollmentState

from .conftest import T0, funnel, load

LOOP = funnel("""
    name: digest
    trigger: {event: go}
    goal: {event: order_completed, within: 30d}
    exit: [{event: unsubscribed}]
    policy: {quiet_hours: {start: "22:00", end: "07:00"}, cap: {max: 2, per: 1d}}
    steps:
      - id: digest
        kind: send
        channels: [telegram, email]
        content: {email: {subject: d, text: t}, telegram: {text: d}}
      - {id: opened, kind: wait_until, reaction: opened, message: digest, timeout: 2d,
         on_met: thanks, on_timeout: again}
      - {id: thanks, kind: send, channel: email, content: {email: {subject: ty, text: t}}}
      - {id: pause, kind: wait, duration: 1d, at: "23:30"}
      - {id: again, kind: goto, step: digest}
""")  # loops until the goal: repeat visits of the same send step
EXAMPLES = [LOOP] + [
    load(n)
    for n in (
        "abandoned_cart",
        "welcome_chain",
        "welcome_chain_strict",
        "opened_or_popup",
        "read_no_click",
        "lead_magnet",
        "tripwire_offer",
        "core_offer",
        "upsell",
        "telegram_guide",
        "rfm_winback",
    )
]
STATUSES = ("delivered", "opened", "clicked", "bounced", "replied", "unsubscribed", "failed")
EVENT_NAMES = (
    "cart_updated",
    "order_completed",
    "checkout_started",
    "request_submitted",
    "page_viewed",
    "unsubscribed",
    "go",
    "ping",
    "rfm_segment_changed",
)
PROPS = st.fixed_dictionaries(
    {},
    optional={
        "items_count": st.integers(0, 3),
        "total": st.one_of(st.integers(0, 500), st.just("120.50")),
        "tier": st.sampled_from(["tripwire", "core", "upsell"]),
        "segment": st.sampled_from(["at_risk", "lost", "loyal"]),
        "source": st.just("popup"),
        "magnet": st.just("guide"),
    },
)


MAX_WAKEUPS = 150  # a looping funnel would otherwise wake up every 30 minutes for 400 days


@dataclass
class Log:
    calls: list[tuple[Any, list[Decision], str]] = field(default_factory=list)  # (at, ds, status)
    sends: list[tuple[Any, SendMessage]] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)  # engine trace kinds, to see what ran


def _trigger_event(f: Funnel) -> EventInput:
    t = f.trigger
    props: dict[str, Any] = {}
    for path, m in t.where.items():
        props[path] = m.eq if m.eq is not None else (m.in_[0] if m.in_ else 1)
    return EventInput(t.event or "go", props, T0, "trigger")


def drive(
    f: Funnel, contact: ContactView, inputs: list[tuple[int, str, Any]], reload_state: bool
) -> Log:
    """A minimal reference runtime; checks the per-call invariants as it goes."""
    log = Log()
    timers: list[tuple[Any, int]] = []
    fired: list[int] = []
    state: EnrollmentState | None = None

    def apply(at: Any, before: EnrollmentState | None, out: Any) -> EnrollmentState:
        nonlocal contact
        ds = out.decisions
        log.calls.append((at, ds, out.state.status))
        log.trace += [t.kind for t in out.trace]
        if before is not None and before.status != "active":
            assert ds == [] and out.state is before, "decided after the enrollment ended"
        exits = [i for i, d in enumerate(ds) if isinstance(d, Exit)]
        assert len(exits) <= 1 and (not exits or exits[0] == len(ds) - 1), "Exit must be last"
        if before is None or before.status == "active":
            assert (out.state.status != "active") == bool(exits)
        scheduled = [d for d in ds if isinstance(d, ScheduleWakeup)]
        if scheduled:  # one pending wake-up at a time, tokens only grow
            tokens = [d.token for d in scheduled]
            assert tokens == sorted(set(tokens)) and tokens[-1] == out.state.token
            if out.state.status == "active":
                assert out.state.wake_at == scheduled[-1].at
        for d in ds:
            if isinstance(d, ScheduleWakeup):
                assert d.at > at, "a wake-up must be in the future"
                heapq.heappush(timers, (d.at, d.token))
            elif isinstance(d, SendMessage):
                log.sends.append((at, d))
                contact = replace(contact, recent_sends=(*contact.recent_sends, at))
            elif isinstance(d, UpdateProfile):
                attrs = {
                    k: v for k, v in {**contact.attributes, **d.set}.items() if k not in d.unset
                }
                tags = (contact.tags | set(d.add_tags)) - set(d.remove_tags)
                contact = replace(contact, attributes=attrs, tags=frozenset(tags))
        new = out.state
        if reload_state:  # what the runtime does: store JSON, load it for the next call
            new = EnrollmentState.from_dict(json.loads(json.dumps(new.to_dict())))
            assert new == out.state
        return new

    def call(at: Any, inp: Any) -> None:
        nonlocal state
        assert state is not None
        before = state
        snapshot = json.dumps(before.to_dict())
        out = decide(f, before, contact, inp, at, links={"unsubscribe": "u"})
        assert json.dumps(before.to_dict()) == snapshot, "decide mutated its input state"
        state = apply(at, before, out)

    def fire_until(limit: Any) -> None:
        while timers and timers[0][0] <= limit and len(fired) < MAX_WAKEUPS:
            at, token = heapq.heappop(timers)
            fired.append(token)
            call(at, TimerInput(token))

    trig = _trigger_event(f)
    if f.trigger.api or f.trigger.date or matches_trigger(f, trig, contact):
        state = apply(T0, None, start(f, contact, trig, T0, "enr", links={"unsubscribe": "u"}))
    else:
        return log
    for minutes, kind, arg in inputs:
        at = T0 + timedelta(minutes=minutes)
        fire_until(at)
        if kind == "event":
            name, props = arg
            contact = replace(contact, events=(*contact.events, PastEvent(name, props, at)))
            call(at, EventInput(name, props, at, f"e{minutes}"))
        elif kind == "status":
            step, status = arg
            call(at, MessageStatusInput(step, status, at))
        elif kind == "link":
            contact = replace(contact, reachable_channels=contact.reachable_channels | {arg})
            call(at, EventInput("channel_linked", {"channel": arg}, at))
        elif kind == "stale":  # a wake-up from an older state, or one delivered twice
            assert state is not None
            token = fired[arg % len(fired)] if fired and arg % 2 else state.token - 1 - arg
            before = state
            out = decide(f, before, contact, TimerInput(token), at)
            assert out.decisions == [] and out.state is before
    fire_until(T0 + timedelta(days=400))
    return log


INPUTS = st.lists(
    st.tuples(
        st.integers(0, 60 * 24 * 20),
        st.sampled_from(["event", "event", "status", "status", "link", "stale"]),
        st.integers(0, 10**6),
        st.sampled_from(EVENT_NAMES),
        PROPS,
        st.sampled_from(STATUSES),
    ),
    max_size=12,
)
CONTACTS = st.builds(
    lambda cid, tz, ch, rfm, tags, recent: ContactView(
        contact_id=cid,
        timezone=tz,
        reachable_channels=frozenset(ch),
        rfm_segment=rfm,
        tags=frozenset(tags),
        attributes={"first_name": "Kim", "lifetime_value": 600},
        recent_sends=tuple(T0 - timedelta(minutes=m) for m in recent),
    ),
    st.text("abcdefxyz", min_size=1, max_size=6),
    st.sampled_from([None, "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Bad/Zone"]),
    st.one_of(  # mostly reachable, sometimes not at all
        st.sets(st.sampled_from(["sms", "telegram", "whatsapp", "onsite"]), max_size=3).map(
            lambda s: s | {"email"}
        ),
        st.sets(st.sampled_from(["email", "sms", "telegram", "whatsapp", "onsite"]), max_size=2),
    ),
    st.sampled_from([None, "at_risk", "lost"]),
    st.sets(st.sampled_from(["vip", "do_not_contact"]), max_size=1),
    st.lists(st.integers(1, 60 * 30), max_size=3),
)


def _inputs(f: Funnel, raw: list[tuple]) -> list[tuple[int, str, Any]]:
    sends = [s.id for s in f.steps if isinstance(s, SendStep)] or ["nope"]
    out = []
    for minutes, kind, n, name, props, status in sorted(raw, key=lambda r: r[0]):
        if kind == "event":
            out.append((minutes, kind, (name, props)))
        elif kind == "status":
            out.append((minutes, kind, (sends[n % len(sends)], status)))
        elif kind == "link":
            out.append((minutes, kind, ["telegram", "email"][n % 2]))
        else:
            out.append((minutes, kind, n % 5))
    return out


def check_log(f: Funnel, contact: ContactView, log: Log) -> None:
    keys = [d.idempotency_key for _, d in log.sends]
    keys += [d.idempotency_key for _, ds, _ in log.calls for d in ds if isinstance(d, CallWebhook)]
    assert len(keys) == len(set(keys)), "a message was decided twice for the same step visit"
    ended = False
    for _, ds, status in log.calls:
        assert not (ended and ds), "decisions after a goal or exit"
        ended = ended or status != "active"
    steps = f.step_map
    history = sorted(contact.recent_sends)
    for n, (at, send) in enumerate(log.sends):
        step = steps[send.step_id]
        policy = clock.effective(step.policy, f.policy)
        tz = clock.resolve_zone(
            contact.timezone, (step.policy and step.policy.timezone) or f.policy.timezone
        )
        if policy.quiet_hours:
            assert clock.quiet_until(at, policy.quiet_hours, tz) is None, "sent in quiet hours"
        if policy.cap:  # when this send was decided: itself and everything sent before it
            earlier = [*history, *(a for a, _ in log.sends[: n + 1])]
            window = [t for t in earlier if at - policy.cap.per < t <= at]
            assert len(window) <= policy.cap.max, "cap exceeded"


def run_property(f: Funnel, contact: ContactView, raw: list[tuple]) -> None:
    inputs = _inputs(f, raw)
    plain = drive(f, contact, inputs, reload_state=False)
    stored = drive(f, contact, inputs, reload_state=True)
    assert plain.calls == stored.calls, "storing and reloading the state changed the outcome"
    assert drive(f, contact, inputs, reload_state=False).calls == plain.calls  # reproducible
    check_log(f, contact, plain)


PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(st.sampled_from(EXAMPLES), CONTACTS, INPUTS)
def test_example_funnels_hold_the_invariants(f: Funnel, contact: ContactView, raw: list) -> None:
    run_property(f, contact, raw)


# --- random funnels -----------------------------------------------------------------------

CHANNEL_LIST = ["email", "sms", "telegram", "onsite"]


@st.composite
def random_funnels(draw: st.DrawFn) -> Funnel:
    n = draw(st.integers(1, 8))
    ids = [f"s{i}" for i in range(n)]
    steps: list[dict[str, Any]] = []
    sends: list[str] = []

    def forward(i: int) -> str:  # only forward jumps: no wait-free loops by construction
        return draw(st.sampled_from([*ids[i + 1 :], "end"]))

    def condition(i: int) -> dict[str, Any]:
        options = [
            {"tag": "vip"},
            {"attributes": {"lifetime_value": {"gte": 500}}},
            {"event": "ping", "since_enrollment": True},
            {"rfm": ["lost"]},
            {"reachable": "telegram"},
        ]
        if sends:
            options.append(
                {
                    "reaction": ["opened", "clicked"],
                    "messages": sends,
                    "at_least": draw(st.integers(1, len(sends))),
                }
            )
        cond = draw(st.sampled_from(options))
        return {"not": cond} if draw(st.booleans()) else cond

    for i, sid in enumerate(ids):
        kind = draw(
            st.sampled_from(
                [
                    "send",
                    "send",
                    "wait",
                    "wait_until",
                    "branch",
                    "split",
                    "update",
                    "webhook",
                    "goto_back",
                    "exit",
                ]
            )
        )
        step: dict[str, Any] = {"id": sid}
        if kind == "send":
            channels = draw(
                st.lists(st.sampled_from(CHANNEL_LIST), min_size=1, max_size=3, unique=True)
            )
            content = {
                ch: (
                    {"subject": f"{sid} {{{{ contact.first_name }}}}", "text": "t"}
                    if ch == "email"
                    else {"text": f"{sid} hi"}
                )
                for ch in channels
            }
            step |= {"kind": "send", "channels": channels, "content": content}
            if draw(st.booleans()):
                step["policy"] = (
                    {"quiet_hours": False}
                    if draw(st.booleans())
                    else {"cap": {"max": 1, "per": "2h"}}
                )
            sends.append(sid)
        elif kind == "wait":
            step |= {"kind": "wait", "duration": draw(st.sampled_from(["10m", "1h", "1d", "3d"]))}
            if draw(st.booleans()):
                step["at"] = draw(st.sampled_from(["09:00", "13:30", "23:00"]))
        elif kind == "wait_until":
            step |= {
                "kind": "wait_until",
                "timeout": draw(st.sampled_from(["30m", "1d"])),
                "on_met": forward(i),
                "on_timeout": forward(i),
            }
            if sends and draw(st.booleans()):
                step |= {
                    "reaction": draw(st.sampled_from(["opened", "clicked"])),
                    "message": draw(st.sampled_from(sends)),
                }
            elif draw(st.booleans()):
                step |= {"event": draw(st.sampled_from(["ping", "checkout_started"]))}
            else:
                step |= {"condition": condition(i)}
        elif kind == "branch":
            step |= {
                "kind": "branch",
                "default": forward(i),
                "cases": [
                    {"when": condition(i), "next": forward(i)}
                    for _ in range(draw(st.integers(1, 2)))
                ],
            }
        elif kind == "split":
            step |= {
                "kind": "split",
                "holdout": 10,
                "variants": [
                    {"name": "a", "percent": 45, "next": forward(i)},
                    {"name": "b", "percent": 45},
                ],
            }
        elif kind == "update":
            step |= {"kind": "update", "set": {"seen": "{{ funnel.step }}"}, "add_tags": ["vip"]}
        elif kind == "webhook":
            step |= {
                "kind": "webhook",
                "url": "https://h.example/{{ contact.id }}",
                "body": {"s": sid},
            }
        elif (
            kind == "goto_back"
            and i > 0
            and any(s["kind"] in ("wait", "wait_until") for s in steps)
        ):
            # a loop that passes through a wait: legal, and exercises repeat visits
            waits = [s["id"] for s in steps if s["kind"] in ("wait", "wait_until")]
            step |= {"kind": "goto", "step": draw(st.sampled_from(waits))}
        else:
            step |= {"kind": "exit", "status": draw(st.sampled_from(["completed", "exited"]))}
        steps.append(step)
    data = {
        "name": "random",
        "trigger": {"event": "go"},
        "goal": {
            "event": "order_completed",
            "value": "total",
            "within": draw(st.sampled_from(["2d", "30d"])),
        },
        "exit": [{"event": "unsubscribed"}, {"condition": {"tag": "do_not_contact"}}],
        "policy": {
            "timezone": "Europe/Berlin",
            "quiet_hours": draw(
                st.sampled_from(
                    [None, {"start": "21:00", "end": "08:00"}, {"start": "12:00", "end": "14:00"}]
                )
            ),
            "cap": draw(st.sampled_from([None, {"max": 2, "per": "1d"}])),
        },
        "steps": steps,
    }
    return Funnel.from_dict(data)


@PROPERTY_SETTINGS
@given(random_funnels(), CONTACTS, INPUTS)
def test_random_funnels_hold_the_invariants(f: Funnel, contact: ContactView, raw: list) -> None:
    run_property(f, contact, raw)


@settings(max_examples=50, deadline=None)
@given(random_funnels())
def test_the_plain_loader_reads_what_pydantic_validates(f: Funnel) -> None:
    """`from_dict` (no pydantic, the worker) builds the funnel the validator builds from the
    same stored data, and both write it back alike."""
    data = json.loads(json.dumps(f.to_dict()))
    validated = adapter(Funnel).validate_python(data)
    assert validated == f == Funnel.from_dict(data)
    assert validated.to_dict() == data
