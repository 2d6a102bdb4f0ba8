"""Decisions per second of the pure funnel engine over a realistic mixed story set.

Every example funnel in funnels/ gets its share of contacts; each contact's story mixes what
production sees: the trigger, page views (noise the funnel must look at and ignore), opens
and clicks on the messages it received, some purchases (goals), some unsubscribes, a few
stale wake-ups, and every wake-up the engine schedules. Only the engine calls (start/decide)
are timed: this is the pure-CPU cost that the I/O around it (DynamoDB, the scheduler,
providers) should dwarf. Also shown: the per-call cost of storing and reloading the state as
JSON and of loading a stored funnel definition.
"""

from __future__ import annotations

import heapq
import json
import random
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from chalicelib.core.engine import (  # noqa: E402
    EventInput,
    MessageStatusInput,
    PastEvent,
    ScheduleWakeup,
    SendMessage,
    TimerInput,
    decide,
    start,
)
from chalicelib.core.funnel import Funnel  # noqa: E402
from chalicelib.core.state import ContactView, EnrollmentState  # noqa: E402
from chalicelib.core.validate import parse_funnel  # noqa: E402

CONTACTS = 3000
SEED = 7
T0 = datetime(2024, 3, 4, 9, tzinfo=UTC)
LINKS = {"unsubscribe": "https://af.example/u/x", "site": "https://shop.example"}
ZONES = ["Europe/Berlin", "Europe/Moscow", "America/New_York", "Asia/Tokyo", None]


def load_funnels() -> list[Funnel]:
    files = [
        p for p in (PROJECT_DIR / "funnels").rglob("*.yaml") if not p.name.endswith(".story.yaml")
    ]
    return [parse_funnel(p.read_text(encoding="utf-8"), str(p)) for p in sorted(files)]


def trigger_for(f: Funnel, rng: random.Random) -> EventInput | None:
    t = f.trigger
    if t.api or t.date:
        return None
    props: dict[str, Any] = {
        "total": rng.choice([19, 49, 120, 310]),
        "items_count": 2,
        "currency": "EUR",
        "cart_url": "https://c/1",
        "product": "Pro",
        "url": "https://p/1",
        "items": [{"name": "Shirt", "price": 70}],
    }
    for path, m in t.where.items():
        props[path] = m.eq if m.eq is not None else (m.in_[0] if m.in_ else 1)
    return EventInput(t.event or "segment_entered", props, T0, "trigger")


def story(f: Funnel, rng: random.Random) -> list[tuple[timedelta, str, Any]]:
    """Timed inputs besides wake-ups: noise, reactions, maybe a goal or an unsubscribe."""
    out: list[tuple[timedelta, str, Any]] = []
    for _ in range(rng.randint(2, 8)):
        out.append(
            (
                timedelta(minutes=rng.randint(1, 60 * 24 * 10)),
                "event",
                ("page_viewed", {"path": "/product/1"}),
            )
        )
    for _ in range(rng.randint(0, 4)):
        out.append(
            (
                timedelta(minutes=rng.randint(5, 60 * 24 * 8)),
                "reaction",
                rng.choice(["delivered", "opened", "opened", "clicked"]),
            )
        )
    if f.goal and rng.random() < 0.3:
        props = {"total": rng.choice([7, 99, 299]), "tier": rng.choice(["tripwire", "core"])}
        out.append(
            (timedelta(minutes=rng.randint(60, 60 * 24 * 9)), "event", (f.goal.event, props))
        )
    if rng.random() < 0.05:
        out.append((timedelta(minutes=rng.randint(60, 60 * 24 * 5)), "event", ("unsubscribed", {})))
    if rng.random() < 0.2:
        out.append((timedelta(minutes=rng.randint(60, 60 * 24 * 5)), "stale", None))
    return sorted(out, key=lambda x: x[0])


class Meter:
    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self.decisions = 0
        self.state_seconds = 0.0

    def run(self, fn: Any, *args: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        out = fn(*args, **kw)
        self.seconds += time.perf_counter() - started
        self.calls += 1
        self.decisions += len(out.decisions)
        started = time.perf_counter()  # the runtime stores the state and loads it next call
        EnrollmentState.from_dict(json.loads(json.dumps(out.state.to_dict())))
        self.state_seconds += time.perf_counter() - started
        return out


def run_contact(f: Funnel, n: int, rng: random.Random, meter: Meter) -> None:
    channels = {"email"} | set(rng.sample(["sms", "telegram", "whatsapp", "onsite"], 2))
    contact = ContactView(
        contact_id=f"c{n}",
        attributes={"first_name": "Kim", "lifetime_value": 420},
        timezone=rng.choice(ZONES),
        reachable_channels=frozenset(channels),
        rfm_segment=rng.choice(["at_risk", "lost"]),
        events=tuple(PastEvent("page_viewed", {}, T0 - timedelta(days=d)) for d in range(20)),
    )
    trigger = trigger_for(f, rng)
    out = meter.run(start, f, contact, trigger, T0, f"e{n}", links=LINKS)
    state, timers, sent = out.state, [], []

    def absorb(at: datetime, decisions: list[Any]) -> None:
        nonlocal contact
        for d in decisions:
            if isinstance(d, ScheduleWakeup):
                heapq.heappush(timers, (d.at, d.token))
            elif isinstance(d, SendMessage):
                sent.append(d.step_id)
                contact = replace(contact, recent_sends=(*contact.recent_sends, at)[-20:])

    absorb(T0, out.decisions)
    for offset, kind, arg in story(f, rng):
        at = T0 + offset
        while timers and timers[0][0] <= at and state.status == "active":
            wake, token = heapq.heappop(timers)
            out = meter.run(decide, f, state, contact, TimerInput(token), wake, links=LINKS)
            state = out.state
            absorb(wake, out.decisions)
        if kind == "event":
            inp: Any = EventInput(arg[0], arg[1], at)
        elif kind == "reaction" and sent:
            inp = MessageStatusInput(rng.choice(sent), arg, at)
        else:
            inp = TimerInput(state.token - 1)  # stale: must be a no-op
        out = meter.run(decide, f, state, contact, inp, at, links=LINKS)
        state = out.state
        absorb(at, out.decisions)
    while timers and state.status == "active":
        wake, token = heapq.heappop(timers)
        out = meter.run(decide, f, state, contact, TimerInput(token), wake, links=LINKS)
        state = out.state
        absorb(wake, out.decisions)


def main() -> None:
    funnels = load_funnels()
    rng = random.Random(SEED)
    meter = Meter()
    for n in range(CONTACTS):
        run_contact(funnels[n % len(funnels)], n, rng, meter)
    stored = [f.to_dict() for f in funnels]
    started = time.perf_counter()
    for _ in range(20):
        for data in stored:
            Funnel.from_dict(data)
    load_us = (time.perf_counter() - started) / (20 * len(stored)) * 1e6
    rows = [
        ("funnels / contacts", f"{len(funnels)} / {CONTACTS}"),
        ("engine calls (start + decide)", f"{meter.calls}"),
        ("decisions", f"{meter.decisions}"),
        ("decisions per second (engine only)", f"{meter.decisions / meter.seconds:,.0f}"),
        ("engine calls per second", f"{meter.calls / meter.seconds:,.0f}"),
        ("mean engine call", f"{meter.seconds / meter.calls * 1e6:.0f} µs"),
        (
            "state to_dict+JSON+from_dict per call",
            f"{meter.state_seconds / meter.calls * 1e6:.0f} µs",
        ),
        ("Funnel.from_dict (stored definition)", f"{load_us:.0f} µs"),
    ]
    print(f"Funnel engine, pure CPU (seed {SEED}, {sys.version.split()[0]})")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>12}")


if __name__ == "__main__":
    main()
