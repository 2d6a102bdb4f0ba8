"""Where a funnel's conditions are, nested ones included, and what they read.

every_condition(funnel) -> (location, condition) pairs   # the validator's findings name them
reads_reactions(funnel) -> bool   # a wait or a condition looks at reactions to its sends
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.core import conditions as c
from chalicelib.core.funnel import BranchStep, Funnel, WaitUntilStep
from chalicelib.core.problems import Loc


def every_condition(funnel: Funnel) -> Iterator[tuple[Loc, Any]]:
    """Every (location, condition) in the funnel, nested ones included."""
    roots: list[tuple[Loc, Any]] = []
    if funnel.trigger.condition is not None:
        roots.append((("trigger", "condition"), funnel.trigger.condition))
    roots += [
        (("exit", j, "condition"), r.condition)
        for j, r in enumerate(funnel.exit)
        if r.condition is not None
    ]
    for i, step in enumerate(funnel.steps):
        if isinstance(step, BranchStep):
            roots += [(("steps", i, "cases", j, "when"), k.when) for j, k in enumerate(step.cases)]
        elif isinstance(step, WaitUntilStep) and step.condition is not None:
            roots.append((("steps", i, "condition"), step.condition))
    for loc, cond in roots:
        yield from _nested(loc, cond)


def _nested(loc: Loc, cond: Any) -> Iterator[tuple[Loc, Any]]:
    yield loc, cond
    if isinstance(cond, c.AllCond | c.AnyCond):
        key, parts = ("all", cond.all_) if isinstance(cond, c.AllCond) else ("any", cond.any_)
        for k, part in enumerate(parts):
            yield from _nested((*loc, key, k), part)
    elif isinstance(cond, c.NotCond):
        yield from _nested((*loc, "not"), cond.not_)


def reads_reactions(funnel: Funnel) -> bool:
    """Whether any step or condition of this version looks at the reactions (delivered, opened,
    clicked...) to its sends: a `wait_until` a reaction, or a reaction condition anywhere."""
    if any(isinstance(s, WaitUntilStep) and s.reaction for s in funnel.steps):
        return True
    return any(isinstance(cond, c.ReactionCond) for _, cond in every_condition(funnel))
