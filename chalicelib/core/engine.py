"""The pure funnel engine: (funnel, state, contact, input, now) -> Outcome(state, decisions).

    start(funnel, contact, trigger: EventInput | None, now, enrollment_id, *, links=None,
          workspace_cap=None)
    decide(funnel, state, contact, input, now, *, links=None, workspace_cap=None)
        -> Outcome(state: EnrollmentState, decisions: list[Decision], trace: list[Trace])

No I/O, no clock, no randomness: the same arguments always give the same Outcome, and the
state passed in is never mutated. One call runs through instantaneous steps (send, branch,
split, update, goto, webhook) until it reaches a wait, a wait_until or the end, so it may
emit several decisions. `links` are the per-contact URLs templates may use (links.unsubscribe
...), supplied by the runtime.

Rules the runtime can rely on:
- SendMessage.idempotency_key = f"{enrollment_id}:{step_id}:{visit}" is unique per
  enrollment x step x visit; a send deferred by quiet hours/caps keeps its key.
- At most one wake-up is pending per enrollment; its token is state.token. A TimerInput with
  any other token (or when none is pending) is stale: empty decisions, state unchanged.
- Inputs for an enrollment that has ended give nothing.
- A goal event ends the enrollment as converted from any step (RecordConversion + Exit) if it
  happens within goal.within of the start; later it ends it as exited. Exit rules end it as
  exited. Both cancel the pending wake-up. With goal.within set, an enrollment that runs out of
  steps stays active (step None) until the window closes, so late conversions still count.
- Sends in quiet hours (contact tz, else the policy's) or over the per-contact cap (counting
  contact.recent_sends and sends decided in the same call) are deferred to the next allowed
  minute with a wake-up; the enrollment stays on the step. `workspace_cap` (the deployment's
  cap across all funnels) applies to every send step besides the funnel's, unless the step
  says `cap: false`. contact.recent_sends must reach back `clock.cap_window(...)`.
- status "unsubscribed" ends the enrollment as exited; reactions imply the weaker ones
  (decisions.IMPLIED: clicked -> opened -> delivered; an on-site message shown -> opened).
- The runtime must pass the funnel version the enrollment started on (state.version);
  a mismatch raises ValueError, so a new version never disturbs running enrollments.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.core import clock, templates
from chalicelib.core.decisions import (
    IMPLIED,
    MESSAGE_STATUSES,
    CallWebhook,
    CancelWakeup,
    Decision,
    EnrollInFunnel,
    EventInput,
    Exit,
    Input,
    MessageStatusInput,
    RecordConversion,
    ScheduleWakeup,
    SendMessage,
    TimerInput,
    Trace,
    UpdateProfile,
)
from chalicelib.core.evaluate import Facts, holds
from chalicelib.core.funnel import (
    END,
    FUNNEL_ENTERED,
    MESSAGE_RECEIVED,
    ONSITE_EXPIRY,
    BranchStep,
    Cap,
    ExitStep,
    Funnel,
    GotoStep,
    SendStep,
    SplitStep,
    UpdateStep,
    WaitReplyStep,
    WaitStep,
    WaitUntilStep,
    WebhookStep,
)
from chalicelib.core.matching import get_path, matches
from chalicelib.core.replies import CHANNELS_OF_ADDRESS, parse_reply
from chalicelib.core.state import (
    ACTIVE,
    COMPLETED,
    CONVERTED,
    EXITED,
    ContactView,
    EnrollmentState,
    PastEvent,
    utc,
)

__all__ = [
    "CallWebhook",
    "CancelWakeup",
    "ContactView",
    "Decision",
    "EnrollInFunnel",
    "EnrollmentState",
    "EventInput",
    "Exit",
    "Input",
    "MessageStatusInput",
    "Outcome",
    "PastEvent",
    "RecordConversion",
    "ScheduleWakeup",
    "SendMessage",
    "TimerInput",
    "Trace",
    "UpdateProfile",
    "decide",
    "split_bucket",
    "start",
]

_STOP = object()  # returned by a step that waits or ends the enrollment
TOPIC = "topic:"  # a topic's consent, beside the channels' ("topic:promotions": False)
UNREACHABLE = "reaches nothing"  # a send none of whose channels reaches the contact (trace)


@dataclass(frozen=True, slots=True)
class Outcome:
    state: EnrollmentState
    decisions: list[Decision]
    trace: list[Trace] = field(default_factory=list)


def start(
    funnel: Funnel,
    contact: ContactView,
    trigger: EventInput | None,
    now: datetime,
    enrollment_id: str,
    *,
    links: Mapping[str, str] | None = None,
    workspace_cap: Cap | None = None,
) -> Outcome:
    now = utc(now)
    state = EnrollmentState(
        enrollment_id=enrollment_id,
        funnel=funnel.name,
        version=funnel.version,
        contact_id=contact.contact_id,
        started_at=now,
        trigger_event=trigger.name if trigger else None,
        trigger=dict(trigger.properties) if trigger else {},
    )
    run = _Run(funnel, state, contact, now, links, trigger, workspace_cap)
    run.note(None, "enter", trigger.name if trigger else "enrolled")
    if not run.exit_conditions():
        run.go(funnel.first_step)
    return run.outcome()


def decide(
    funnel: Funnel,
    state: EnrollmentState,
    contact: ContactView,
    input: Input,
    now: datetime,
    *,
    links: Mapping[str, str] | None = None,
    workspace_cap: Cap | None = None,
) -> Outcome:
    if state.funnel != funnel.name or state.version != funnel.version:
        raise ValueError(
            f"enrollment runs on {state.funnel} v{state.version}, "
            f"got {funnel.name} v{funnel.version}"
        )
    if state.status != ACTIVE:
        return Outcome(state, [])
    if isinstance(input, TimerInput) and (input.token != state.token or state.wake_at is None):
        return Outcome(state, [])  # stale wake-up from an older state
    run = _Run(
        funnel,
        state.copy(),
        contact,
        utc(now),
        links,
        input if isinstance(input, EventInput) else None,
        workspace_cap,
    )
    if isinstance(input, TimerInput):
        run.on_timer()
    elif isinstance(input, EventInput):
        run.on_event(input)
    elif isinstance(input, MessageStatusInput):
        run.on_status(input)
    else:
        raise TypeError(f"unknown input {input!r}")
    return run.outcome()


def split_bucket(contact_id: str, funnel: str, step_id: str) -> float:
    """A stable number in [0, 100) per contact x split step: sticky, reproducible A/B/n."""
    digest = hashlib.sha256(f"{contact_id}:{funnel}:{step_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


class _Run:
    """One engine call: a working copy of the state plus what has been decided so far."""

    def __init__(
        self,
        funnel: Funnel,
        state: EnrollmentState,
        contact: ContactView,
        now: datetime,
        links: Mapping[str, str] | None,
        event: EventInput | None,
        workspace_cap: Cap | None = None,
    ):
        self.funnel, self.state, self.contact, self.now = funnel, state, contact, now
        self.links = links
        self.workspace_cap = workspace_cap
        self.decisions: list[Decision] = []
        self.trace: list[Trace] = []
        self.sent_now: list[datetime] = []
        self.events = list(contact.events)
        if event is not None:  # the input event counts as history unless already there
            last = self.events[-1] if self.events else None
            if not (last and last[0] == event.name and utc(last[2]) == utc(event.occurred_at)):
                self.events.append(PastEvent(event.name, event.properties, event.occurred_at))

    # --- bookkeeping ----------------------------------------------------------------------

    def outcome(self) -> Outcome:
        return Outcome(self.state, self.decisions, self.trace)

    def note(self, step_id: str | None, kind: str, detail: str = "") -> None:
        self.trace.append(Trace(self.now, step_id, kind, detail, len(self.decisions)))

    def facts(self) -> Facts:
        return Facts(
            self.contact, self.state.reactions, self.state.started_at, self.now, self.events
        )

    def schedule(self, at: datetime, kind: str) -> None:
        self.cancel_wake()
        s = self.state
        s.token += 1
        s.wake_at, s.wake_kind = at, kind
        self.decisions.append(ScheduleWakeup(at, s.token))

    def cancel_wake(self) -> None:
        s = self.state
        if s.wake_at is not None:
            self.decisions.append(CancelWakeup(s.token))
            s.wake_at = s.wake_kind = None

    def end(self, status: str, reason: str) -> None:
        self.cancel_wake()
        s = self.state
        s.status, s.reason, s.ended_at = status, reason, self.now
        self.decisions.append(Exit(status, reason))
        self.note(s.step, "exit", f"{status}: {reason}")

    def exit_conditions(self) -> bool:
        for rule in self.funnel.exit:
            if rule.condition is not None and holds(rule.condition, self.facts()):
                self.end(EXITED, rule.reason or "exit condition")
                return True
        return False

    def tz(self, step_policy: Any = None) -> Any:
        policy_tz = (step_policy and step_policy.timezone) or self.funnel.policy.timezone
        return clock.resolve_zone(self.contact.timezone, policy_tz)

    # --- inputs ---------------------------------------------------------------------------

    def on_timer(self) -> None:
        s = self.state
        kind = s.wake_kind
        s.wake_at = s.wake_kind = None
        if self.exit_conditions():
            return
        if kind == "window":
            self.end(COMPLETED, "holdout" if "holdout" in s.splits.values() else "finished")
            return
        step = self.funnel.step_map.get(s.step or "")
        if step is None:
            self.end(EXITED, f"unknown step {s.step!r}")
        elif kind == "defer":
            self.go(step.id, count_visit=False)
        elif kind == "timeout":
            self.note(step.id, "timeout")
            self.go(step.on_timeout or self.after(step))
        else:
            self.go(self.next_of(step))

    def on_event(self, ev: EventInput) -> None:
        s, goal = self.state, self.funnel.goal
        if goal and ev.name == goal.event and matches(ev.properties, goal.where):
            if goal.within is None or utc(ev.occurred_at) <= s.started_at + goal.within:
                raw = get_path(ev.properties, goal.value) if goal.value else None
                raw = raw if ev.counts_value else None
                s.value = _number(raw)
                self.decisions.append(RecordConversion(ev.name, s.value, utc(ev.occurred_at)))
                self.end(CONVERTED, f"goal {ev.name}")
            else:
                self.end(EXITED, f"goal {ev.name} after the attribution window")
            return
        for rule in self.funnel.exit:
            hit = rule.event == ev.name and matches(ev.properties, rule.where)
            hit = hit or (
                rule.entered_funnel is not None
                and ev.name == FUNNEL_ENTERED
                and ev.properties.get("funnel") == rule.entered_funnel
            )
            if hit:
                self.end(EXITED, rule.reason or f"exit on {ev.name}")
                return
        if self.exit_conditions():
            return
        step = self.funnel.step_map.get(s.step or "")
        if isinstance(step, WaitUntilStep):
            met = step.event == ev.name and matches(ev.properties, step.where)
            if met or (step.condition is not None and holds(step.condition, self.facts())):
                self.met(step, f"event {ev.name}")
        elif isinstance(step, WaitReplyStep) and ev.name == MESSAGE_RECEIVED:
            self.on_reply(step, ev)

    def on_reply(self, step: WaitReplyStep, ev: EventInput) -> None:
        """A chat message while waiting for an answer: store it if it fits `expect`."""
        channel = ev.properties.get("channel")
        if step.channel and channel not in step.channel:
            return
        value = parse_reply(step.expect, ev.properties.get("text"), step.region)
        if value is None:
            self.note(step.id, "invalid", f"not {step.expect}")
            if step.on_invalid is not None:
                self.cancel_wake()
                self.go(step.on_invalid)
            return
        self.decisions.append(UpdateProfile({step.store: value}))
        attributes = {**self.contact.attributes, step.store: value}
        reachable = self.contact.reachable_channels
        if step.store == step.expect:  # an address: the runtime links it before sending on
            reachable = reachable | set(CHANNELS_OF_ADDRESS.get(step.expect, ()))
        self.contact = dataclasses.replace(
            self.contact, attributes=attributes, reachable_channels=frozenset(reachable)
        )
        self.cancel_wake()
        self.note(step.id, "met", f"reply stored in {step.store}")
        self.go(step.on_met or self.after(step))

    def on_status(self, st: MessageStatusInput) -> None:
        s = self.state
        if st.status not in MESSAGE_STATUSES or st.step_id not in s.visits:
            return  # not a message this enrollment sent
        seen = s.reactions.setdefault(st.step_id, {})
        for status in (*IMPLIED.get(st.status, ()), st.status):
            seen.setdefault(status, utc(st.at))
        if st.status == "unsubscribed":
            self.end(EXITED, "unsubscribed")
            return
        if self.exit_conditions():
            return
        step = self.funnel.step_map.get(s.step or "")
        if isinstance(step, WaitUntilStep) and self._met_now(step):
            self.met(step, f"{st.status} {st.step_id}")

    def met(self, step: WaitUntilStep, why: str) -> None:
        self.cancel_wake()
        self.note(step.id, "met", why)
        self.go(step.on_met or self.after(step))

    def _met_now(self, step: WaitUntilStep) -> bool:
        if step.reaction is not None:
            seen = self.state.reactions.get(step.message or "", {})
            return any(r in seen for r in step.reaction)
        return step.condition is not None and holds(step.condition, self.facts())

    # --- walking the steps ----------------------------------------------------------------

    def after(self, step: Any) -> str | None:
        return self.funnel.following[step.id]

    def next_of(self, step: Any) -> str | None:
        return getattr(step, "next", None) or self.after(step)

    def go(self, step_id: str | None, count_visit: bool = True) -> None:
        s = self.state
        seen: set[str] = set()
        while True:
            if step_id is None or step_id == END:
                self.finish()
                return
            step = self.funnel.step_map.get(step_id)
            if step is None:
                self.end(EXITED, f"unknown step {step_id!r}")
                return
            if step_id in seen:
                # Time cannot pass inside one call, so a second visit is a loop. The validator
                # rejects wait-free loops; a wait_until that is already met can still close one.
                self.end(EXITED, f"loop without waiting at step {step_id!r}")
                return
            seen.add(step_id)
            s.step, s.step_at = step_id, self.now
            if count_visit:
                s.visits[step_id] = s.visits.get(step_id, 0) + 1
            count_visit = True
            if self.exit_conditions():
                return
            nxt = self.execute(step)
            if nxt is _STOP:
                return
            step_id = nxt

    def finish(self, reason: str = "finished") -> None:
        s, goal = self.state, self.funnel.goal
        s.step = None
        if goal and goal.within is not None and s.started_at + goal.within > self.now:
            self.note(None, "linger", "waiting for the goal until the attribution window ends")
            self.schedule(s.started_at + goal.within, "window")
        else:
            self.end(COMPLETED, reason)

    def execute(self, step: Any) -> Any:
        return _HANDLERS[type(step)](self, step)

    def _send(self, step: SendStep) -> Any:
        topic = self.funnel.topic
        if topic and self.contact.consents.get(TOPIC + topic) is False:
            self.note(step.id, "skip", f"opted out of the topic {topic}")
            return self.next_of(step)
        channels = tuple(str(ch) for ch in step.channels if self.contact.can_reach(ch))
        if not channels:
            self.note(step.id, "skip", f"{UNREACHABLE}: {', '.join(step.channels)}")
            return self.next_of(step)
        policy = clock.effective(step.policy, self.funnel.policy)
        sends = (*self.contact.recent_sends, *self.sent_now)
        also = clock.workspace_caps(step.policy, self.workspace_cap)
        allowed, why = clock.next_allowed(self.now, policy, self.tz(step.policy), sends, also)
        if allowed > self.now:
            self.note(step.id, "defer", f"{why} until {allowed.isoformat()}")
            self.schedule(allowed, "defer")
            return _STOP
        ctx = self.context(step.id)
        content = self.funnel.content_for(step)
        try:
            rendered = {ch: templates.render_content(content, ch, ctx) for ch in channels}
        except Exception as exc:  # a template that breaks on real data: skip, don't crash
            self.note(step.id, "skip", f"template error: {exc}")
            return self.next_of(step)
        if "onsite" in rendered:  # shown on a later visit, or never: how long it may wait
            expires = step.expires or ONSITE_EXPIRY
            rendered["onsite"]["expires_in"] = int(expires.total_seconds())
        key = f"{self.state.enrollment_id}:{step.id}:{self.state.visits.get(step.id, 1)}"
        template_id = step.template or f"{self.funnel.name}:{step.id}"
        self.decisions.append(
            SendMessage(key, step.id, channels, rendered, template_id, step.stage)
        )
        self.sent_now.append(self.now)
        self.note(step.id, "send", ",".join(channels))
        return self.next_of(step)

    def _wait(self, step: WaitStep) -> Any:
        base = self.state.started_at if step.anchor == "enrollment" else self.now
        at = base + step.duration if step.duration is not None else self.now
        if step.at is not None:
            strict = step.duration is None  # a bare `at` always lets time pass
            at = clock.next_time_of_day(at, step.at, step.weekdays, self.tz(), strict)
        if at <= self.now:
            return self.next_of(step)
        self.note(step.id, "wait", f"until {at.isoformat()}")
        self.schedule(at, "wait")
        return _STOP

    def _wait_until(self, step: WaitUntilStep) -> Any:
        if self._met_now(step):
            self.note(step.id, "met", "already")
            return step.on_met or self.after(step)
        if step.timeout is None:
            self.note(step.id, "wait", "no timeout")
            return _STOP
        base = self.state.started_at if step.anchor == "enrollment" else self.now
        deadline = base + step.timeout
        if deadline <= self.now:  # a deadline from entry that is already behind
            self.note(step.id, "timeout", "deadline already passed")
            return step.on_timeout or self.after(step)
        self.note(step.id, "wait", f"until {deadline.isoformat()}")
        self.schedule(deadline, "timeout")
        return _STOP

    def _wait_reply(self, step: WaitReplyStep) -> Any:
        # Only an answer given from now on counts: never met "already".
        until = f"until {(self.now + step.timeout).isoformat()}" if step.timeout else "no timeout"
        self.note(step.id, "wait", f"reply into {step.store}, {until}")
        if step.timeout is not None:
            self.schedule(self.now + step.timeout, "timeout")
        return _STOP

    def _branch(self, step: BranchStep) -> Any:
        facts = self.facts()
        for j, case in enumerate(step.cases):
            if holds(case.when, facts):
                self.note(step.id, "branch", f"case {j + 1} -> {case.next}")
                return case.next
        target = step.default or self.after(step)
        self.note(step.id, "branch", f"default -> {target or 'end'}")
        return target

    def _split(self, step: SplitStep) -> Any:
        s = self.state
        name = s.splits.get(step.id)
        if name is None:
            bucket, name = split_bucket(s.contact_id, self.funnel.name, step.id), "holdout"
            for v in step.variants:
                bucket -= v.percent
                if bucket < 0:
                    name = v.name
                    break
            s.splits[step.id] = name
        self.note(step.id, "split", name)
        if name == "holdout":
            self.finish("holdout")  # receives nothing; stays until the goal window closes (lift)
            return _STOP
        variant = next(v for v in step.variants if v.name == name)
        return variant.next or self.after(step)

    def _update(self, step: UpdateStep) -> Any:
        values = templates.render_value(step.set_, self.context(step.id))
        self.decisions.append(
            UpdateProfile(values, tuple(step.unset), tuple(step.add_tags), tuple(step.remove_tags))
        )
        attrs = {
            k: v for k, v in {**self.contact.attributes, **values}.items() if k not in step.unset
        }
        tags = (self.contact.tags | set(step.add_tags)) - set(step.remove_tags)
        self.contact = dataclasses.replace(self.contact, attributes=attrs, tags=frozenset(tags))
        self.note(step.id, "update", ", ".join([*values, *step.add_tags]))
        return self.next_of(step)

    def _goto(self, step: GotoStep) -> Any:
        if step.step is not None:
            self.note(step.id, "goto", step.step)
            return step.step
        self.decisions.append(EnrollInFunnel(step.funnel or ""))
        self.note(step.id, "goto", f"funnel {step.funnel}")
        self.state.step = None
        self.end(COMPLETED, f"moved to funnel {step.funnel}")
        return _STOP

    def _webhook(self, step: WebhookStep) -> Any:
        ctx = self.context(step.id)
        key = f"{self.state.enrollment_id}:{step.id}:{self.state.visits.get(step.id, 1)}"
        self.decisions.append(
            CallWebhook(
                key, templates.render_url(step.url, ctx), templates.render_value(step.body, ctx)
            )
        )
        self.note(step.id, "webhook", step.url)
        return self.next_of(step)

    def _exit(self, step: ExitStep) -> Any:
        self.end(step.status, step.reason or f"exit step {step.id}")
        return _STOP

    def context(self, step_id: str) -> dict[str, Any]:
        return templates.make_context(
            self.contact.template_data(), self.state.trigger, self.links, self.funnel.name, step_id
        )


_HANDLERS: dict[type, Callable[[_Run, Any], Any]] = {
    SendStep: _Run._send,
    WaitStep: _Run._wait,
    WaitUntilStep: _Run._wait_until,
    WaitReplyStep: _Run._wait_reply,
    BranchStep: _Run._branch,
    SplitStep: _Run._split,
    UpdateStep: _Run._update,
    GotoStep: _Run._goto,
    WebhookStep: _Run._webhook,
    ExitStep: _Run._exit,
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
