"""Reading a funnel's figures: the funnel list, the step table, split tests, the coloured graph.

Each funnel version's figures are one Query on its counters scope; nothing reads events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.analytics import counters, keys
from chalicelib.analytics.histogram import median
from chalicelib.analytics.significance import compare, rate
from chalicelib.core import flow
from chalicelib.core.funnel import Funnel, SendStep, SplitStep
from chalicelib.core.graph import to_mermaid
from chalicelib.runtime.funnel_store import FunnelStore, UnknownFunnel

STEP_FIGURES = (
    "entered",
    "reached",
    "sent",
    "skipped",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "unsubscribed",
    "bounced",
    "failed",
    "shown",  # on-site messages: seen on the page, closed, their form sent, never shown
    "dismissed",
    "submitted",
    "expired",
    "converted",
    "revenue",
    "exited",
    "completed",
    "waiting",
    "attributed_orders",
    "attributed_revenue",
)
FUNNEL_FIGURES = (
    "entered",
    "active",
    "converted",
    "exited",
    "completed",
    "revenue",
    "attributed_orders",
    "attributed_revenue",
)


def figures(name: str, versions: Iterable[int]) -> dict[str, float]:
    """The versions' figures added up (a step keeps its id across versions)."""
    total: dict[str, float] = defaultdict(float)
    for version in versions:
        for metric, value in counters.read(keys.funnel_scope(name, version)).items():
            total[metric] += value
    return {metric: _tidy(value) for metric, value in total.items()}


def funnel_list(store: FunnelStore) -> list[dict[str, Any]]:
    rows = []
    for head in sorted(store.heads(), key=lambda h: h.name):
        latest = int(head.latest_version or 0)
        found = figures(head.name, range(1, latest + 1))
        row: dict[str, Any] = {"name": head.name, "state": head.state, "version": latest}
        row.update(_totals(found))
        rows.append(row)
    return rows


def funnel_detail(store: FunnelStore, name: str, version: int | None = None) -> dict[str, Any]:
    head = next((h for h in store.heads() if h.name == name), None)
    if head is None or not head.latest_version:
        raise UnknownFunnel(name)
    latest = int(head.latest_version)
    if version is not None and not 1 <= version <= latest:
        raise UnknownFunnel(f"{name} v{version}")
    versions = [version] if version is not None else list(range(1, latest + 1))
    definition = store.version(name, version or latest)
    found = figures(name, versions)
    steps = step_table(definition, found)
    return {
        "name": name,
        "state": head.state,
        "version": version,
        "latest_version": latest,
        "totals": _totals(found),
        "steps": steps,
        "splits": split_tests(definition, found),
        "mermaid": coloured_graph(definition, steps),
    }


def _totals(found: Mapping[str, float]) -> dict[str, Any]:
    totals: dict[str, Any] = {figure: found.get(figure, 0) for figure in FUNNEL_FIGURES}
    entered = totals["entered"]
    totals["conversion_rate"] = rate(totals["converted"], entered)
    totals["revenue_per_contact"] = _tidy(totals["revenue"] / entered) if entered else None
    totals["attributed_revenue_per_contact"] = (
        _tidy(totals["attributed_revenue"] / entered) if entered else None
    )
    return totals


def step_table(funnel: Funnel, found: Mapping[str, float]) -> list[dict[str, Any]]:
    known = [step.id for step in funnel.steps]
    seen_ids = {metric.split("#")[1] for metric in found if metric.startswith("step#")}
    order = known + sorted(seen_ids - set(known) - {keys.END_STEP})
    if keys.END_STEP in seen_ids:
        order.append(keys.END_STEP)
    previous = _previous_steps(funnel)
    entered = found.get("entered", 0)
    rows: list[dict[str, Any]] = []
    reached: dict[str, float] = {}
    for step_id in order:
        prefix = f"step#{step_id}#"
        mine = {m[len(prefix) :]: v for m, v in found.items() if m.startswith(prefix)}
        step = funnel.step_map.get(step_id)
        row: dict[str, Any] = {
            "id": step_id,
            "kind": step.kind
            if step is not None
            else ("end" if step_id == keys.END_STEP else "removed"),
            "template": step.template if isinstance(step, SendStep) else None,
        }
        row.update({figure: mine.get(figure, 0) for figure in STEP_FIGURES})
        reached[step_id] = row["reached"]
        before = previous.get(step_id)
        base = reached.get(before, 0) if before else entered
        row["previous"] = before
        row["rate_from_entry"] = rate(row["reached"], entered)
        row["rate_from_previous"] = rate(row["reached"], base)
        row["open_rate"] = rate(row["opened"], row["sent"])
        row["click_rate"] = rate(row["clicked"], row["sent"])
        buckets = {int(k[3:]): v for k, v in mine.items() if k.startswith("dt#")}
        row["median_seconds"] = median(buckets)
        row["sent_by_channel"] = {k[5:]: v for k, v in mine.items() if k.startswith("sent#")}
        rows.append(row)
    return rows


def _previous_steps(funnel: Funnel) -> dict[str, str | None]:
    """A step's one predecessor in the step graph; with several (branches joining), the step
    listed just before it; the first step's previous is the funnel entry (None)."""
    predecessors: dict[str, set[str]] = defaultdict(set)
    for edge in flow.edges(funnel):
        if edge.dst is not None:
            predecessors[edge.dst].add(edge.src)
    result: dict[str, str | None] = {}
    listed = [step.id for step in funnel.steps]
    for index, step_id in enumerate(listed):
        if step_id == funnel.first_step:
            result[step_id] = None
        elif len(predecessors[step_id]) == 1:
            result[step_id] = next(iter(predecessors[step_id]))
        else:
            result[step_id] = listed[index - 1] if index else None
    return result


def split_tests(funnel: Funnel, found: Mapping[str, float]) -> list[dict[str, Any]]:
    tests = []
    for step in funnel.steps:
        if not isinstance(step, SplitStep):
            continue
        names = [v.name for v in step.variants] + (["holdout"] if step.holdout else [])
        arms = []
        for arm in names:
            entered = int(found.get(keys.split_metric(step.id, arm, "entered"), 0))
            converted = int(found.get(keys.split_metric(step.id, arm, "converted"), 0))
            arms.append(
                {
                    "arm": arm,
                    "entered": entered,
                    "converted": converted,
                    "revenue": found.get(keys.split_metric(step.id, arm, "revenue"), 0),
                    "conversion_rate": rate(converted, entered),
                }
            )
        control = arms[-1] if step.holdout else arms[0]
        for arm in arms:
            if arm is control:
                arm["control"] = True
                continue
            arm["control"] = False
            arm.update(
                compare(
                    arm["converted"], arm["entered"], control["converted"], control["entered"]
                ).as_dict()
            )
        tests.append(
            {
                "step": step.id,
                "control": control["arm"],
                "test": "two-proportion z-test, two-sided, alpha 0.05",
                "arms": arms,
            }
        )
    return tests


def coloured_graph(funnel: Funnel, steps: list[dict[str, Any]]) -> str:
    """The funnel's Mermaid flowchart with each step filled by its drop-off from the previous
    step: green (most continue), amber, red (most are lost); grey before anyone arrived."""
    lines = [to_mermaid(funnel).rstrip("\n")]
    lines += [
        "  classDef keep fill:#d8f3dc,stroke:#2d6a4f",
        "  classDef leak fill:#ffe8a3,stroke:#b08900",
        "  classDef drop fill:#ffccd5,stroke:#a4133c",
        "  classDef idle fill:#eeeeee,stroke:#999999",
    ]
    for row in steps:
        if row["kind"] in ("end", "removed"):
            continue
        kept = row["rate_from_previous"]
        style = (
            "idle" if kept is None else "keep" if kept >= 0.8 else "leak" if kept >= 0.5 else "drop"
        )
        node = "s_" + row["id"].replace("-", "_")
        lines.append(f"  class {node} {style}")
    return "\n".join(lines) + "\n"


def _tidy(value: float) -> float:
    value = round(value, 6)
    return int(value) if float(value).is_integer() else value
