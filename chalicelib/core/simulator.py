"""The time-travel simulator: an in-memory reference runtime over the pure engine.

It owns a fake clock, one contact, any number of funnels (a chain such as tripwire -> core
works when all are loaded), their enrollments and a wake-up queue. It applies decisions the
way the real runtime must: sends update `recent_sends`, UpdateProfile edits the contact,
wake-ups fire in time order (before story inputs at the same instant), cancelled or stale
wake-ups do nothing, EnrollInFunnel starts the named funnel, and starting an enrollment
emits `funnel_entered`.

    simulate(funnels, story) -> Result(rows, enrollments)
    check(story, result) -> list of mismatches against the story's `expect:`
"""

from __future__ import annotations

import heapq
import itertools
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import engine, figures, templates
from chalicelib.core.decisions import (
    MESSAGE_STATUSES,
    CallWebhook,
    CancelWakeup,
    EnrollInFunnel,
    EventInput,
    Exit,
    MessageStatusInput,
    RecordConversion,
    ScheduleWakeup,
    SendMessage,
    TimerInput,
    UpdateProfile,
)
from chalicelib.core.durations import format_duration
from chalicelib.core.funnel import CHANNEL_LINKED, FUNNEL_ENTERED, SEGMENT_ENTERED, Funnel
from chalicelib.core.index import TriggerIndex, matches_trigger, may_enter
from chalicelib.core.state import ContactView, EnrollmentState, PastEvent
from chalicelib.core.story import Story, StoryInput, parse_offset

BLANK_FIGURES = {
    "orders_count": 0,
    "total_spent": 0,
    "lifetime_value": 0,
    "sessions": 0,
    "page_views": 0,
}  # a new contact's figures, as production starts them
HORIZON = timedelta(days=400)  # stop a story with no `until` this long after its last input
_SHOWN_TRACE = {"branch", "split", "defer", "met", "timeout", "skip", "goto", "update", "linger"}


@dataclass(frozen=True)
class Row:
    at: datetime
    offset: timedelta
    funnel: str
    step: str | None
    kind: str  # input | enter | send | branch | split | defer | met | timeout | ... | exit
    channel: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "offset": format_offset(self.offset),
            "funnel": self.funnel,
            "step": self.step,
            "kind": self.kind,
            "channel": self.channel,
            "detail": self.detail,
        }


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    enrollments: list[EnrollmentState] = field(default_factory=list)
    sends: list[tuple[timedelta, str, str, SendMessage]] = field(default_factory=list)

    def status(self, funnel: str | None = None) -> str | None:
        found = [e for e in self.enrollments if funnel is None or e.funnel == funnel]
        return found[-1 if funnel else 0].status if found else None


def _contact(story: Story) -> ContactView:
    c = story.contact
    history = tuple(
        PastEvent(h.arg, h.properties, story.start + h.offset)
        for h in story.history
        if h.command == "event"
    )
    return ContactView(
        contact_id=str(c.get("id", "contact-1")),
        attributes=dict(c.get("attributes") or {}),
        tags=frozenset(c.get("tags") or ()),
        timezone=c.get("timezone"),
        consents=dict(c.get("consents") or {}),
        reachable_channels=frozenset(c.get("channels") or ("email",)),
        events=history,
        segments=frozenset(c.get("segments") or ()),
        rfm_segment=c.get("rfm"),
        figures={**BLANK_FIGURES, **dict(c.get("figures") or {})},
    )


class Simulation:
    def __init__(self, funnels: list[Funnel], story: Story):
        self.index = TriggerIndex.build(funnels)
        self.story = story
        self.contact = _contact(story)
        self.links = story.links or templates.SAMPLE_LINKS
        self.now = story.start
        self.result = Result()
        self.states: dict[str, EnrollmentState] = {}
        self.timers: list[tuple[datetime, int, str, int]] = []
        self.seq = itertools.count()

    # --- the clock ------------------------------------------------------------------------

    def run(self) -> Result:
        inputs = sorted(self.story.inputs, key=lambda i: i.offset)
        last = self.story.start + (inputs[-1].offset if inputs else timedelta(0))
        end = self.story.start + self.story.until if self.story.until else last + HORIZON
        for item in inputs:
            self._fire_timers(until=self.story.start + item.offset)
            self.now = self.story.start + item.offset
            self._input(item)
        self._fire_timers(until=end)
        self.result.enrollments = list(self.states.values())
        return self.result

    def _fire_timers(self, until: datetime) -> None:
        while self.timers and self.timers[0][0] <= until:
            at, _, eid, token = heapq.heappop(self.timers)
            state = self.states[eid]
            if state.status != "active" or state.token != token:
                continue  # cancelled or superseded: the engine would ignore it anyway
            self.now = at
            self._decide(state, TimerInput(token))

    # --- inputs ---------------------------------------------------------------------------

    def row(
        self, funnel: str, step: str | None, kind: str, channel: str = "", detail: str = ""
    ) -> None:
        self.result.rows.append(
            Row(self.now, self.now - self.story.start, funnel, step, kind, channel, detail)
        )

    def _input(self, item: StoryInput) -> None:
        cmd, arg = item.command, item.arg
        c = self.contact
        props = json.dumps(item.properties, ensure_ascii=False) if item.properties else ""
        self.row("", None, "input", "", f"{cmd} {arg} {props}".strip())
        if cmd == "event":
            self._event(arg, item.properties)
        elif cmd in MESSAGE_STATUSES:
            self._status(cmd, arg)
        elif cmd == "set":
            self.contact = replace(c, attributes={**c.attributes, **item.properties})
            self._event("identify", dict(item.properties))
        elif cmd == "unset":
            self.contact = replace(
                c, attributes={k: v for k, v in c.attributes.items() if k != arg}
            )
        elif cmd in ("tag", "untag"):
            tags = c.tags | {arg} if cmd == "tag" else c.tags - {arg}
            self.contact = replace(c, tags=frozenset(tags))
        elif cmd == "segment":
            self.contact = replace(c, segments=c.segments | {arg})
            self._event(SEGMENT_ENTERED, {"segment": arg})
        elif cmd == "leave_segment":
            self.contact = replace(c, segments=c.segments - {arg})
        elif cmd == "rfm":
            self.contact = replace(c, rfm_segment=arg)
        elif cmd == "link":
            self.contact = replace(c, reachable_channels=c.reachable_channels | {arg})
            self._event(CHANNEL_LINKED, {"channel": arg})
        elif cmd == "optout":
            self.contact = replace(c, consents={**c.consents, arg: False})
        elif cmd == "enroll":
            targets = [self.index.get(arg)] if arg else list(self.index.funnels[:1])
            for f in targets:
                if f is None:
                    self.row("", None, "error", "", f"unknown funnel {arg!r}")
                else:
                    self._start(f, None)

    def _event(self, name: str, props: dict[str, Any]) -> None:
        ev = EventInput(name, props, self.now, f"ev-{next(self.seq)}")
        self.contact = replace(
            self.contact,
            events=(*self.contact.events, PastEvent(name, props, self.now)),
            figures=figures.after_event(self.contact.figures, name, props, self.now),
        )
        interested = {f.name for f in self.index.candidates(name)}
        for state in list(self.states.values()):
            if state.status == "active" and state.funnel in interested:
                self._decide(state, ev)
        for f in self.index.entry_candidates(name):
            if matches_trigger(f, ev, self.contact):
                self._start(f, ev)

    def _status(self, status: str, ref: str) -> None:
        funnel, _, step = ref.rpartition("/")
        for state in reversed(list(self.states.values())):
            if (not funnel or state.funnel == funnel) and step in state.visits:
                self._decide(state, MessageStatusInput(step, status, self.now))
                return
        self.row(funnel, step, "ignored", "", f"{status}: {step} was not sent")

    # --- the engine and its decisions ----------------------------------------------------

    def _start(self, funnel: Funnel, trigger: EventInput | None) -> None:
        past = [(s.started_at, s.status) for s in self.states.values() if s.funnel == funnel.name]
        if not may_enter(funnel, past, self.now):
            self.row(funnel.name, None, "no-entry", "", f"re-entry policy {funnel.reentry.policy}")
            return
        eid = f"{funnel.name}-{len(self.states) + 1}"
        out = engine.start(funnel, self.contact, trigger, self.now, eid, links=self.links)
        self.states[eid] = out.state
        self._apply(funnel, out)
        self._event(FUNNEL_ENTERED, {"funnel": funnel.name})

    def _decide(self, state: EnrollmentState, inp: Any) -> None:
        funnel = self.index.get(state.funnel)
        assert funnel is not None
        out = engine.decide(funnel, state, self.contact, inp, self.now, links=self.links)
        self.states[state.enrollment_id] = out.state
        self._apply(funnel, out)

    def _apply(self, funnel: Funnel, out: engine.Outcome) -> None:
        name = funnel.name
        traces = iter(out.trace)
        trace = next(traces, None)
        pending: list[EnrollInFunnel] = []
        for i, d in enumerate([*out.decisions, None]):
            while trace is not None and trace.after <= i:  # keep the engine's own order
                if trace.kind == "enter":
                    self.row(name, None, "enter", "", trace.detail)
                elif trace.kind in _SHOWN_TRACE:
                    self.row(name, trace.step_id, trace.kind, "", trace.detail)
                trace = next(traces, None)
            if d is not None:
                self._decision(name, out.state, d, pending)
        for e in pending:  # after this enrollment has ended, like the runtime's queue would
            target = self.index.get(e.funnel_name)
            if target is None:
                self.row(name, None, "error", "", f"unknown funnel {e.funnel_name!r}")
            else:
                self._start(target, None)

    def _decision(
        self, name: str, state: EnrollmentState, d: Any, pending: list[EnrollInFunnel]
    ) -> None:
        if isinstance(d, SendMessage):
            self._send(name, d)
        elif isinstance(d, ScheduleWakeup):
            heapq.heappush(self.timers, (d.at, next(self.seq), state.enrollment_id, d.token))
        elif isinstance(d, CancelWakeup):
            pass  # the token check in _fire_timers drops it
        elif isinstance(d, UpdateProfile):
            c = self.contact
            attrs = {k: v for k, v in {**c.attributes, **d.set}.items() if k not in d.unset}
            tags = (c.tags | set(d.add_tags)) - set(d.remove_tags)
            self.contact = replace(c, attributes=attrs, tags=frozenset(tags))
        elif isinstance(d, RecordConversion):
            self.row(name, state.step, "conversion", "", f"{d.event_name} value={d.value}")
        elif isinstance(d, Exit):
            self.row(name, state.step, "exit", "", f"{d.status}: {d.reason}")
        elif isinstance(d, CallWebhook):
            self.row(name, d.idempotency_key.split(":")[1], "webhook", "", d.url)
        elif isinstance(d, EnrollInFunnel):
            pending.append(d)

    def _send(self, funnel: str, d: SendMessage) -> None:
        channel = d.channels[0]  # the first channel succeeds in a simulation
        parts = d.content[channel]
        first = parts.get("subject") or next(iter(parts.get("text", "").strip().splitlines()), "")
        self.row(funnel, d.step_id, "send", channel, first)
        self.result.sends.append((self.now - self.story.start, funnel, d.step_id, d))
        self.contact = replace(self.contact, recent_sends=(*self.contact.recent_sends, self.now))


def simulate(funnels: list[Funnel], story: Story) -> Result:
    return Simulation(funnels, story).run()


def check(story: Story, result: Result) -> list[str]:
    """Differences between the story's `expect:` and what happened (empty: all as expected)."""
    problems: list[str] = []
    expect = story.expect
    if "sends" in expect:
        want = [_send_key(line) for line in expect["sends"] or []]
        qualified = any("/" in step for _, step, _ in want)
        got = [
            (off, f"{f}/{d.step_id}" if qualified else d.step_id, d.channels[0])
            for off, f, _, d in result.sends
        ]
        if got != want:
            problems.append(
                "sends differ:\n  expected: " + _fmt(want) + "\n  actual:   " + _fmt(got)
            )
    unreachable = [
        (row.offset, row.step)
        for row in result.rows
        if row.kind == "skip" and row.detail.startswith(engine.UNREACHABLE)
    ]
    want_unreachable = [str(step) for step in expect.get("unreachable") or []]
    if [step for _, step in unreachable] != want_unreachable:
        problems.append(
            "sends that reach nothing (no channel of the step reaches the contact, as "
            "production routes it): expected "
            + (", ".join(want_unreachable) or "none")
            + ", actual "
            + (", ".join(f"{format_offset(o)} {s}" for o, s in unreachable) or "none")
        )
    status = expect.get("status")
    if isinstance(status, str) and result.status() != status:
        problems.append(f"status: expected {status}, got {result.status()}")
    elif isinstance(status, dict):
        for fname, want_status in status.items():
            if result.status(fname) != want_status:
                problems.append(
                    f"status of {fname}: expected {want_status}, got {result.status(fname)}"
                )
    return problems


def format_offset(delta: timedelta) -> str:
    return "+0" if not delta else "+" + format_duration(delta)


def _send_key(line: str) -> tuple[timedelta, str, str]:
    parts = str(line).split()
    if len(parts) != 3:
        raise ValueError(f"expected 'OFFSET STEP CHANNEL', got {line!r}")
    return parse_offset(parts[0]), parts[1], parts[2]


def _fmt(sends: list[tuple[timedelta, str, str]]) -> str:
    return ", ".join(f"{format_offset(o)} {s} {c}" for o, s, c in sends) or "(none)"
