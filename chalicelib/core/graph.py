"""A Mermaid flowchart of a funnel (`autofunnel graph`), drawn from the same edges the
validator checks, so the picture is the behaviour."""

from __future__ import annotations

from chalicelib.core import flow
from chalicelib.core.durations import format_duration, format_time_of_day
from chalicelib.core.funnel import (
    BranchStep,
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

_SHAPES = {  # Mermaid node shapes by kind: the reader sees waits and decisions at a glance
    "send": ('["', '"]'),
    "wait": ('(["', '"])'),
    "wait_until": ('(["', '"])'),
    "wait_reply": ('(["', '"])'),
    "branch": ('{"', '"}'),
    "split": ('{{"', '"}}'),
    "exit": ('(("', '"))'),
}


def _label(step: object) -> str:
    if isinstance(step, SendStep):
        what = step.template or "inline"
        stage = f"<br/><i>{step.stage}</i>" if step.stage else ""
        return f"send {' → '.join(step.channels)}<br/>{what}{stage}"
    if isinstance(step, WaitStep):
        since = " after entry" if step.anchor == "enrollment" else ""
        parts = [format_duration(step.duration) + since] if step.duration else []
        if step.at:
            days = f" {','.join(step.weekdays)}" if step.weekdays else ""
            parts.append(f"at {format_time_of_day(step.at)}{days}")
        return "wait " + " then ".join(parts)
    if isinstance(step, WaitUntilStep):
        if step.event:
            what = step.event
        elif step.reaction:
            what = f"{'/'.join(step.reaction)} {step.message}"
        else:
            what = "condition"
        return f"wait until {what}"
    if isinstance(step, WaitReplyStep):
        return f"wait for a reply<br/>{step.expect} → {step.store}"
    if isinstance(step, BranchStep):
        return "branch"
    if isinstance(step, SplitStep):
        return "split" + (f" (holdout {step.holdout:g}%)" if step.holdout else "")
    if isinstance(step, UpdateStep):
        return "update " + ", ".join([*step.set_, *step.unset, *step.add_tags, *step.remove_tags])
    if isinstance(step, GotoStep):
        return f"goto funnel {step.funnel}" if step.funnel else f"goto {step.step}"
    if isinstance(step, WebhookStep):
        return "webhook"
    if isinstance(step, ExitStep):
        return f"exit {step.status}"
    return type(step).__name__


def _node(name: str) -> str:
    return "s_" + name.replace("-", "_")


def to_mermaid(funnel: Funnel) -> str:
    trigger = funnel.trigger
    entry = (
        trigger.event
        or (trigger.segment and f"segment {trigger.segment}")
        or (trigger.date and f"date {trigger.date.attribute}")
        or "API / goto"
    )
    lines = ["flowchart TD", f'  start(["▶ {entry}"])', f"  start --> {_node(funnel.first_step)}"]
    for step in funnel.steps:
        left, right = _SHAPES.get(step.kind, ('["', '"]'))
        text = f"{step.id}: {_label(step)}".replace('"', "'")
        lines.append(f"  {_node(step.id)}{left}{text}{right}")
    ended = False
    for e in flow.edges(funnel):
        arrow = f"-- {e.label} -->" if e.label else "-->"
        if e.dst is None:
            ended = True
        lines.append(f"  {_node(e.src)} {arrow} {'done' if e.dst is None else _node(e.dst)}")
    for step in funnel.steps:
        if isinstance(step, GotoStep) and step.funnel:
            lines.append(f'  {_node(step.id)} -.-> f_{step.funnel}[["{step.funnel}"]]')
    if ended:
        lines.append('  done(("end"))')
    if funnel.goal:
        window = f" within {format_duration(funnel.goal.within)}" if funnel.goal.within else ""
        lines.append(f'  goal>"🎯 goal: {funnel.goal.event}{window} (from any step)"]')
    return "\n".join(lines) + "\n"
