"""Funnels-as-code verbs: `validate`, `simulate`, `graph`, `schema`.

Heavy imports (pydantic, Liquid) happen inside the commands to keep `autofunnel --help` fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

STORY_SUFFIX = ".story.yaml"


def funnel_files(path: Path) -> list[Path]:
    """YAML funnel files under a path; story files (*.story.yaml) are not funnels."""
    if path.is_file():
        return [path]
    found = sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
    return [p for p in found if not p.name.endswith(STORY_SUFFIX)]


def load_funnels(paths: list[Path]) -> tuple[list[Any], list[Any]]:
    """(funnels, problems) for every funnel file under `paths`, with cross-file checks."""
    from chalicelib.core.problems import FunnelValidationError
    from chalicelib.core.validate import cross_check, parse_funnel

    loaded, problems = [], []
    for path in paths:
        for file in funnel_files(path):
            text = file.read_text(encoding="utf-8")
            try:
                loaded.append((str(file), text, parse_funnel(text, str(file))))
            except FunnelValidationError as exc:
                problems.extend(exc.problems)
    problems.extend(cross_check(loaded))
    return [f for _, _, f in loaded], problems


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check funnel files (or directories of them) and story files (*.story.yaml)."""
    from chalicelib.core.problems import FunnelValidationError
    from chalicelib.core.story import parse_story

    stories = [p for p in paths if p.is_file() and p.name.endswith(STORY_SUFFIX)]
    funnels, problems = load_funnels([p for p in paths if p not in stories])
    for story in stories:
        try:
            parsed = parse_story(story.read_text(encoding="utf-8"), str(story))
        except FunnelValidationError as exc:
            problems.extend(exc.problems)
            continue
        problems.extend(story_problems(story, parsed))
    for problem in problems:
        click.echo(str(problem), err=True)
    for warning in _link_warnings([p for p in paths if p not in stories]):
        click.echo(f"warning: {warning}", err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"ok: {len(funnels)} funnel(s), {len(stories)} story file(s)")


def story_problems(path: Path, story: Any) -> list[Any]:
    """A story with a `funnel:` runs through the simulator: its expectations must hold, and a
    send that reaches nothing (as production would route it for the story's contact) must be
    listed under `expect: unreachable`."""
    from chalicelib.core import simulator
    from chalicelib.core.problems import Problem, locate
    from chalicelib.core.validate import load_yaml

    if not story.funnel:
        return []
    funnels, problems = load_funnels([path.parent / story.funnel])
    if problems:
        return []  # reported with the funnels themselves
    line, field = locate(load_yaml(path.read_text(encoding="utf-8"), str(path))[1], ("expect",))
    return [
        Problem(str(path), line, field, mismatch.replace("\n", " "))
        for mismatch in simulator.check(story, simulator.simulate(funnels, story))
    ]


def _link_warnings(paths: list[Path]) -> list[Any]:
    """Links that would go out untracked, judged by AUTOFUNNEL_SITE_URL and
    AUTOFUNNEL_LINK_HOSTS when they are set (a laptop without them gets no warnings)."""
    import os

    from chalicelib.config import Settings
    from chalicelib.core.problems import FunnelValidationError
    from chalicelib.core.validate import link_warnings, parse_funnel

    hosts = Settings.from_env(os.environ).allowed_link_hosts
    if not hosts:
        return []
    warnings = []
    for path in paths:
        for file in funnel_files(path):
            text = file.read_text(encoding="utf-8")
            try:
                funnel = parse_funnel(text, str(file))
            except FunnelValidationError:
                continue  # reported as a problem already
            warnings += link_warnings(funnel, text, str(file), hosts)
    return warnings


@click.command()
@click.argument("funnel", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--story",
    "story_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A story file (see docs/funnels.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.option("--check", is_flag=True, help="Exit non-zero when the story's `expect:` fails.")
def simulate(funnel: Path | None, story_path: Path, as_json: bool, check: bool) -> None:
    """Run FUNNEL (a file, or a directory for chains) over a story with a fake clock.
    Without FUNNEL, the story's own `funnel:` (relative to the story file) is used."""
    from chalicelib.core import simulator
    from chalicelib.core.problems import FunnelValidationError
    from chalicelib.core.story import parse_story

    try:
        story = parse_story(story_path.read_text(encoding="utf-8"), str(story_path))
    except FunnelValidationError as exc:
        raise click.ClickException(str(exc)) from None
    if funnel is None:
        if not story.funnel:
            raise click.UsageError("give FUNNEL or set `funnel:` in the story")
        funnel = story_path.parent / story.funnel
    funnels, problems = load_funnels([funnel])
    if problems:
        raise click.ClickException("\n".join(str(p) for p in problems))
    result = simulator.simulate(funnels, story)
    if as_json:
        for row in result.rows:
            click.echo(json.dumps(row.to_dict(), ensure_ascii=False))
    else:
        _print_table(result, story)
    mismatches = simulator.check(story, result)
    if check or mismatches:
        for line in mismatches:
            click.echo(f"EXPECTATION FAILED: {line}", err=True)
    if check and mismatches:
        sys.exit(1)


def _print_table(result: Any, story: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from chalicelib.core import simulator
    from chalicelib.core.clock import resolve_zone

    tz = resolve_zone(story.contact.get("timezone"), None)
    table = Table(title=f"{story.name} — {story.contact.get('id', 'contact-1')}")
    for column in ("offset", "local time", "funnel", "step", "what", "channel", "detail"):
        table.add_column(column, overflow="fold")
    styles = {
        "send": "bold green",
        "skip": "bold red",
        "exit": "bold",
        "conversion": "bold cyan",
        "input": "dim",
    }
    for row in result.rows:
        table.add_row(
            simulator.format_offset(row.offset),
            row.at.astimezone(tz).strftime("%a %d %b %H:%M"),
            row.funnel,
            row.step or "",
            row.kind,
            row.channel,
            _short(row.detail),
            style=styles.get(row.kind),
        )
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for state in result.enrollments:
        console.print(f"{state.funnel}: [bold]{state.status}[/bold] ({state.reason})")


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@click.command()
@click.argument("funnel", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def graph(funnel: Path) -> None:
    """Print a Mermaid flowchart of FUNNEL."""
    from chalicelib.core.graph import to_mermaid

    funnels, problems = load_funnels([funnel])
    if problems:
        raise click.ClickException("\n".join(str(p) for p in problems))
    click.echo(to_mermaid(funnels[0]))


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of stdout.",
)
def schema(output: Path | None) -> None:
    """Print the JSON Schema of the funnel YAML format (for editor autocompletion)."""
    from chalicelib.core.funnel import funnel_json_schema

    text = json.dumps(funnel_json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


COMMANDS: list[click.Command] = [validate, simulate, graph, schema]
