"""Validation of funnel YAML: syntax, schema (pydantic), and the semantic checks —
dangling references, unreachable steps, loops with no wait, templates (syntax, unknown
variables, rendering with sample data) and channels without a template part.

Every problem names file, line and field: lines come from PyYAML node marks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from chalicelib.core import conditions as c
from chalicelib.core import figures, flow, hosts, plain, templates
from chalicelib.core.funnel import (
    END,
    STEP_KINDS,
    Content,
    Funnel,
    GotoStep,
    SendStep,
    SplitStep,
    UpdateStep,
    WaitUntilStep,
    WebhookStep,
)
from chalicelib.core.funnel_conditions import every_condition
from chalicelib.core.problems import (
    FunnelValidationError,
    Loc,
    Problem,
    locate,
    locate_node,
    template_line,
)

_TAGS = frozenset(STEP_KINDS) | frozenset(c.CONDITION_KEYS)
Finding = tuple[Loc, str, int | None]  # (location, message, line inside a template or None)


def load_yaml(text: str, filename: str) -> tuple[Any, yaml.Node | None]:
    """(data, node tree). Raises FunnelValidationError for YAML syntax errors."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        data = yaml.safe_load(text) if len(nodes) == 1 else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        msg = f"YAML syntax: {getattr(exc, 'problem', None) or exc}"
        raise FunnelValidationError([Problem(filename, line, "", msg)]) from exc
    if len(nodes) != 1 or not isinstance(data, dict):
        line = nodes[1].start_mark.line + 1 if len(nodes) > 1 else 1
        raise FunnelValidationError(
            [Problem(filename, line, "", "a funnel file holds exactly one YAML mapping")]
        )
    return data, nodes[0]


def parse_funnel(text: str, filename: str) -> Funnel:
    """Parse and fully validate a funnel YAML document."""
    data, root = load_yaml(text, filename)
    try:
        funnel: Funnel = plain.adapter(Funnel).validate_python(data)
    except ValidationError as exc:
        raise FunnelValidationError(
            [_pydantic_problem(e, root, filename) for e in exc.errors()]
        ) from None
    problems = [_to_problem(f, root, filename) for f in semantic_checks(funnel)]
    if problems:
        raise FunnelValidationError(problems)
    return funnel


def _pydantic_problem(err: Any, root: yaml.Node | None, filename: str) -> Problem:
    loc = err["loc"]
    msg = plain.message(err)
    if err["type"] == "union_tag_invalid":
        msg = f"unknown step kind {err['ctx']['tag']!r} (known: {', '.join(STEP_KINDS)})"
    elif err["type"] == "union_tag_not_found":
        msg = f"a step needs `kind`: one of {', '.join(STEP_KINDS)}"
    elif err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):  # (dataclasses')
        msg = f"unknown field {loc[-1]!r}"
    line, field = locate(root, loc, _TAGS)
    return Problem(filename, line, field, msg)


def _to_problem(finding: Finding, root: yaml.Node | None, filename: str) -> Problem:
    loc, msg, tline = finding
    if root is None:
        return Problem(filename, 1, "", msg)
    key_node, value_node, field = locate_node(root, loc, _TAGS)
    line = template_line(value_node, tline) if tline is not None else key_node.start_mark.line + 1
    return Problem(filename, line, field, msg)


# --- semantic checks (on a schema-valid Funnel) ------------------------------------------


def semantic_checks(funnel: Funnel) -> list[Finding]:
    return [
        *_structure(funnel),
        *_reactions(funnel),
        *_fields(funnel),
        *_content(funnel),
        *_templates(funnel),
    ]


def _structure(funnel: Funnel) -> Iterator[Finding]:
    ids: dict[str, int] = {}
    for i, step in enumerate(funnel.steps):
        if step.id in ids:
            yield ("steps", i, "id"), f"duplicate step id {step.id!r}", None
        if step.id == END:
            yield ("steps", i, "id"), f"{END!r} is reserved (`next: end` finishes)", None
        ids.setdefault(step.id, i)
    for e in flow.edges(funnel):
        if e.dst is not None and e.dst not in ids:
            yield e.loc, f"unknown step {e.dst!r}", None
    live = flow.reachable(funnel)
    for i, step in enumerate(funnel.steps):
        if step.id not in live:
            yield ("steps", i, "id"), f"step {step.id!r} is unreachable from the first step", None
        if isinstance(step, GotoStep) and step.funnel == funnel.name:
            yield ("steps", i, "funnel"), "a funnel cannot hand contacts to itself", None
        if (
            isinstance(step, SplitStep)
            and step.holdout
            and not (funnel.goal and funnel.goal.within)
        ):
            msg = "a holdout needs goal.within: lift is measured by conversions in that window"
            yield ("steps", i, "holdout"), msg, None
    for cycle in flow.wait_free_cycles(funnel):
        i = ids[cycle[0]]
        path = " -> ".join([*cycle, cycle[0]])
        yield ("steps", i, "id"), f"loop with no wait would run forever: {path}", None
    for j, rule in enumerate(funnel.exit):
        if rule.entered_funnel == funnel.name:
            yield ("exit", j, "entered_funnel"), "a funnel cannot exit on entering itself", None


def _reactions(funnel: Funnel) -> Iterator[Finding]:
    sends = {s.id for s in funnel.steps if isinstance(s, SendStep)}
    for i, step in enumerate(funnel.steps):
        if isinstance(step, WaitUntilStep) and step.message and step.message not in sends:
            yield ("steps", i, "message"), f"{step.message!r} is not a send step", None
    for loc, cond in every_condition(funnel):
        if isinstance(cond, c.ReactionCond):
            if loc[0] == "trigger":
                yield loc, "reaction conditions only make sense inside the funnel", None
            for m in cond.messages:
                if m not in sends:
                    yield (*loc, "messages"), f"{m!r} is not a send step", None
            if cond.at_least > len(cond.messages):
                yield (*loc, "at_least"), "at_least is more than the messages listed", None


def _fields(funnel: Funnel) -> Iterator[Finding]:
    """`attributes:` filters naming a field nobody provides (a typo of a figure, a figure's
    unknown sub-field, or, when the funnel declares sample.contact, an undeclared attribute)."""
    sample = funnel.sample
    known = set(templates.SAMPLE_CONTACT) | set(sample.contact) if sample else None
    for loc, cond in every_condition(funnel):
        if isinstance(cond, c.AttributesCond):
            for path in cond.attributes:
                problem = figures.unknown_field(path, known)
                if problem:
                    yield (*loc, "attributes", path), problem, None


def _content(funnel: Funnel) -> Iterator[Finding]:
    for i, step in enumerate(funnel.steps):
        if not isinstance(step, SendStep):
            continue
        if step.template is not None and step.template not in funnel.templates:
            yield ("steps", i, "template"), f"unknown template {step.template!r}", None
            continue
        if step.expires is not None and "onsite" not in step.channels:
            yield ("steps", i, "expires"), "`expires` is for on-site messages only", None
        content = funnel.content_for(step)
        where = f"template {step.template!r}" if step.template else "`content`"
        for j, channel in enumerate(step.channels):
            if content.part(channel) is None:
                loc = ("steps", i, "channels", j) if len(step.channels) > 1 else ("steps", i)
                yield loc, f"channel {channel!r} has no part in {where}", None


def _template_sources(funnel: Funnel) -> Iterator[tuple[Loc, str, bool]]:
    """(location, Liquid source, is_html) for every templated string in the funnel."""

    def content(base: Loc, cont: Content) -> Iterator[tuple[Loc, str, bool]]:
        for channel in c.CHANNELS:
            part = cont.part(channel)
            if part is None:
                continue
            for name in ("subject", "html", "text", "preheader", "title"):
                src = getattr(part, name, None)
                if src is not None:
                    yield (*base, channel, name), src, name == "html"
            for b, button in enumerate(getattr(part, "buttons", [])):
                yield (*base, channel, "buttons", b, "text"), button.text, False
                if button.url is not None:
                    yield (*base, channel, "buttons", b, "url"), button.url, False

    def leaves(base: Loc, value: Any) -> Iterator[tuple[Loc, str, bool]]:
        if isinstance(value, str):
            yield base, value, False
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from leaves((*base, str(k)), v)
        elif isinstance(value, list):
            for k, v in enumerate(value):
                yield from leaves((*base, k), v)

    for name, cont in funnel.templates.items():
        yield from content(("templates", name), cont)
    for i, step in enumerate(funnel.steps):
        if isinstance(step, SendStep) and step.content is not None:
            yield from content(("steps", i, "content"), step.content)
        elif isinstance(step, UpdateStep):
            yield from leaves(("steps", i, "set"), step.set_)
        elif isinstance(step, WebhookStep):
            yield ("steps", i, "url"), step.url, False
            yield from leaves(("steps", i, "body"), step.body)


def _templates(funnel: Funnel) -> Iterator[Finding]:
    sample = funnel.sample
    known_contact = set(templates.SAMPLE_CONTACT) | set(sample.contact) if sample else None
    known_event = set(sample.event) if sample else None
    contact = {**templates.SAMPLE_CONTACT, **templates.SAMPLE_FIGURES}
    contact |= {**(sample.contact if sample else {}), "id": "sample-contact"}
    contact |= {"tags": [], "segments": []}
    ctx = templates.make_context(
        contact, sample.event if sample else {}, templates.SAMPLE_LINKS, funnel.name, "sample"
    )
    for loc, source, html in _template_sources(funnel):
        found = templates.check_template(source, known_contact, known_event)
        for tline, msg in found:
            yield loc, msg, tline
        if not found:
            err = templates.try_render(source, ctx, html)
            if err is not None:
                yield loc, f"does not render with sample data: {err}", 1


_LITERAL_URL = re.compile(r"""https?://[^\s"'<>`{}]+""", re.IGNORECASE)


def link_warnings(
    funnel: Funnel, text: str, filename: str, allowed_hosts: Sequence[str]
) -> list[Problem]:
    """Warnings, not errors: literal links in content whose host is not one tracked links may
    go to (they go out untracked), and webhook URLs a deployment on AWS refuses (plain http)."""
    root = load_yaml(text, filename)[1]
    found: list[Finding] = []
    for loc, source, _html in _template_sources(funnel):
        is_webhook = len(loc) == 3 and loc[0] == "steps" and loc[2] == "url"
        if is_webhook:
            if source.lower().startswith("http://"):
                found.append((loc, "webhook URLs must be https on AWS (http only locally)", None))
            continue
        for match in _LITERAL_URL.finditer(source):
            url = match.group(0).rstrip(".,;:!?)]")
            if not hosts.host_allowed(url, allowed_hosts):
                line = source.count("\n", 0, match.start()) + 1
                message = f"{url} is not on the link allow-list: it goes out untracked"
                found.append((loc, message, line))
    return [_to_problem(finding, root, filename) for finding in found]


def cross_check(funnels: list[tuple[str, str, Funnel]]) -> list[Problem]:
    """Checks across a set of files (filename, text, funnel): unique names, and that goto /
    entered_funnel name funnels in the set."""
    names: dict[str, str] = {}
    problems: list[Problem] = []
    for filename, text, funnel in funnels:
        root = load_yaml(text, filename)[1]
        if funnel.name in names:
            line, field = locate(root, ("name",))
            problems.append(
                Problem(
                    filename,
                    line,
                    field,
                    f"funnel name {funnel.name!r} is also used by {names[funnel.name]}",
                )
            )
        names.setdefault(funnel.name, filename)
    for filename, text, funnel in funnels:
        root = load_yaml(text, filename)[1]
        refs: list[tuple[Loc, str]] = [
            (("steps", i, "funnel"), s.funnel)
            for i, s in enumerate(funnel.steps)
            if isinstance(s, GotoStep) and s.funnel
        ]
        refs += [
            (("exit", j, "entered_funnel"), r.entered_funnel)
            for j, r in enumerate(funnel.exit)
            if r.entered_funnel
        ]
        for loc, target in refs:
            if target not in names:
                line, field = locate(root, loc)
                problems.append(Problem(filename, line, field, f"unknown funnel {target!r}"))
    return problems
