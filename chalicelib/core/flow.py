"""The step graph of a funnel: labelled edges, reachability and wait-free cycles.

Shared by the validator (dangling/unreachable/infinite-loop checks) and the Mermaid printer,
so both read `next` defaults exactly the way the engine follows them.
"""

from __future__ import annotations

from typing import NamedTuple

from chalicelib.core.funnel import (
    END,
    BranchStep,
    ExitStep,
    Funnel,
    GotoStep,
    SplitStep,
    WaitReplyStep,
    WaitStep,
    WaitUntilStep,
)


class Edge(NamedTuple):
    src: str
    dst: str | None
    label: str
    loc: tuple[str | int, ...]  # where the target is written (for error lines)


def edges(funnel: Funnel) -> list[Edge]:
    """Every transition; dst None means the enrollment finishes there (`next: end` too)."""
    out = [e._replace(dst=None) if e.dst == END else e for e in _edges(funnel)]
    return out


def _edges(funnel: Funnel) -> list[Edge]:
    out: list[Edge] = []
    for i, step in enumerate(funnel.steps):
        after = funnel.following[step.id]
        here: tuple[str | int, ...] = ("steps", i)
        if isinstance(step, BranchStep):
            for j, case in enumerate(step.cases):
                out.append(Edge(step.id, case.next, f"case {j + 1}", (*here, "cases", j, "next")))
            out.append(Edge(step.id, step.default or after, "default", (*here, "default")))
        elif isinstance(step, SplitStep):
            for j, v in enumerate(step.variants):
                label = f"{v.name} {v.percent:g}%"
                out.append(Edge(step.id, v.next or after, label, (*here, "variants", j, "next")))
            if step.holdout:
                out.append(Edge(step.id, None, f"holdout {step.holdout:g}%", (*here, "holdout")))
        elif isinstance(step, WaitUntilStep):
            out.append(Edge(step.id, step.on_met or after, "met", (*here, "on_met")))
            if step.timeout is not None:
                label = f"timeout {_fmt(step)}"
                out.append(Edge(step.id, step.on_timeout or after, label, (*here, "on_timeout")))
        elif isinstance(step, WaitReplyStep):
            out.append(Edge(step.id, step.on_met or after, "reply", (*here, "on_met")))
            if step.on_invalid is not None:
                out.append(Edge(step.id, step.on_invalid, "invalid", (*here, "on_invalid")))
            if step.timeout is not None:
                label = f"timeout {_fmt(step)}"
                out.append(Edge(step.id, step.on_timeout or after, label, (*here, "on_timeout")))
        elif isinstance(step, GotoStep):
            if step.step is not None:
                out.append(Edge(step.id, step.step, "goto", (*here, "step")))
        elif isinstance(step, ExitStep):
            pass
        else:
            out.append(Edge(step.id, step.next or after, "", (*here, "next")))
    return out


def _fmt(step: WaitUntilStep | WaitReplyStep) -> str:
    from chalicelib.core.durations import format_duration

    return format_duration(step.timeout) if step.timeout is not None else ""


def is_waiting(step: object) -> bool:
    """Steps that always let time pass; only they may close a loop."""
    if isinstance(step, WaitStep):  # an enrollment-anchored wait may already be over
        timed = step.duration is not None and step.duration.total_seconds() > 0
        return step.at is not None or (timed and step.anchor == "step")
    return isinstance(step, WaitUntilStep | WaitReplyStep)


def reachable(funnel: Funnel) -> set[str]:
    succ: dict[str, list[str]] = {}
    for e in edges(funnel):
        if e.dst is not None:
            succ.setdefault(e.src, []).append(e.dst)
    seen = {funnel.first_step}
    todo = [funnel.first_step]
    while todo:
        for nxt in succ.get(todo.pop(), []):
            if nxt not in seen and nxt in funnel.step_map:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def wait_free_cycles(funnel: Funnel) -> list[list[str]]:
    """Cycles made only of instantaneous steps (Tarjan's SCC on the non-waiting subgraph)."""
    steps = funnel.step_map
    succ: dict[str, list[str]] = {sid: [] for sid, s in steps.items() if not is_waiting(s)}
    for e in edges(funnel):
        if e.src in succ and e.dst in succ:
            succ[e.src].append(e.dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in succ[v]:
                order = [s.id for s in funnel.steps]
                found.append(sorted(comp, key=order.index))

    for v in succ:
        if v not in index:
            visit(v)
    return found
