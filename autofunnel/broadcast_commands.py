"""`autofunnel broadcast`: one-off campaigns to a saved segment, through the admin API.

autofunnel broadcast                              the broadcasts, newest first
autofunnel broadcast send FILE [--at ISO]         save it (YAML or JSON) and watch it go
autofunnel broadcast send NAME --segment S --funnel F    hand a segment over to a funnel
autofunnel broadcast dry-run FILE | NAME          what it would do now, per channel
autofunnel broadcast show NAME                    status, counts and its step's figures
autofunnel broadcast watch NAME                   a progress bar until it ends
autofunnel broadcast cancel NAME
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from autofunnel.admin_commands import KEY_OPTION, URL_OPTION
from autofunnel.api_client import AdminApi, ApiFailure

ENDED = ("done", "failed", "cancelled")
SHOWN = ("sent", "held", "skipped", "failed")  # the progress line
STATS = ("sent", "delivered", "opened", "clicked", "unsubscribed", "attributed_revenue")
sleep = time.sleep  # replaced by tests


@click.group("broadcast", invoke_without_command=True)
@URL_OPTION
@KEY_OPTION
@click.pass_context
def broadcast(context: click.Context, url: str | None, admin_key: str | None) -> None:
    """One-off campaigns to a saved segment: the list, or a subcommand."""
    context.obj = AdminApi.from_env(url, admin_key)
    if context.invoked_subcommand is None:
        _guarded(lambda: print_list(Console(highlight=False), context.obj))


@broadcast.command("send")
@click.argument("source")
@click.option("--name", help="the broadcast's name (default: the file's name)")
@click.option("--segment", help="without a file: the saved segment")
@click.option("--funnel", help="without a file: hand the segment over to this funnel")
@click.option("--at", "at", help="start then (ISO 8601, e.g. 2026-03-05T09:00:00+01:00)")
@click.option("--watch/--no-watch", "follow", default=True, show_default=True)
@click.option("--every", default=1.0, show_default=True, help="seconds between polls")
@click.pass_obj
def send(
    api: AdminApi,
    source: str,
    name: str | None,
    segment: str | None,
    funnel: str | None,
    at: str | None,
    follow: bool,
    every: float,
) -> None:
    """Save a broadcast (SOURCE: a YAML/JSON file, or a name with --segment and --funnel) and
    follow it with a progress bar until it ends (a scheduled one: until it starts)."""

    def run() -> None:
        title, definition = _definition(source, name, segment, funnel)
        if at:
            definition["at"] = at
        _, saved = api.call("PUT", f"/admin/broadcasts/{title}", json.dumps(definition).encode())
        click.echo(f"{title}: {saved['outcome']}, {_when(saved)}")
        for warning in saved.get("warnings", []):
            click.echo(f"warning: {warning}")
        if follow and saved["status"] != "scheduled":
            _watch(api, title, every)

    _guarded(run)


@broadcast.command("dry-run")
@click.argument("source")
@click.option("--name", help="the broadcast's name (default: the file's name)")
@click.option("--every", default=0.5, show_default=True, help="seconds between polls")
@click.pass_obj
def dry_run(api: AdminApi, source: str, name: str | None, every: float) -> None:
    """Count per channel what a broadcast (a file, or a saved one's NAME) would do now."""

    def run() -> None:
        if Path(source).is_file():
            title, definition = _definition(source, name, None, None)
            body: bytes | None = json.dumps(definition).encode()
        else:
            title, body = source, None
        _, job = api.call("POST", f"/admin/broadcasts/{title}/dry-run", body)
        while job["status"] not in ENDED:
            sleep(every)
            _, job = api.call("GET", job["status_url"])
        if job["status"] != "done":
            raise click.ClickException(f"the dry run {job['status']}: {job.get('error')}")
        print_dry_run(Console(highlight=False), title, job["counts"])

    _guarded(run)


@broadcast.command("show")
@click.argument("name")
@click.pass_obj
def show(api: AdminApi, name: str) -> None:
    """One broadcast: status, progress, counts and its step's figures."""
    _guarded(lambda: print_one(Console(highlight=False), api.call("GET", _path(name))[1]))


@broadcast.command("watch")
@click.argument("name")
@click.option("--every", default=1.0, show_default=True, help="seconds between polls")
@click.pass_obj
def watch(api: AdminApi, name: str, every: float) -> None:
    """A progress bar until the broadcast ends; exit status 1 unless it is done."""
    _guarded(lambda: _watch(api, name, every))


@broadcast.command("cancel")
@click.argument("name")
@click.pass_obj
def cancel(api: AdminApi, name: str) -> None:
    """Stop it after the page in hand; sends still held for quiet hours are dropped."""

    def run() -> None:
        _, found = api.call("POST", f"{_path(name)}/cancel")
        click.echo(f"{name}: {found['status']} ({_counts(found['counts'])})")

    _guarded(run)


def print_list(console: Console, api: AdminApi) -> None:
    found = api.call("GET", "/admin/broadcasts")[1]["broadcasts"]
    if not found:
        console.print("No broadcasts yet.")
        return
    table = Table(title="Broadcasts (newest first)")
    for column in ("broadcast", "segment", "status", "progress", *SHOWN, "starts"):
        table.add_column(column, justify="right" if column in SHOWN else "left")
    for item in found:
        counts = item["counts"]
        table.add_row(
            item["name"],
            item["segment"],
            item["status"],
            f"{item['progress']:.0%}",
            *(f"{int(counts.get(name, 0)):,}" for name in SHOWN),
            item["starts_at"][:16].replace("T", " "),
        )
    console.print(table)


def print_one(console: Console, item: dict[str, Any]) -> None:
    what = f"hand-over to {item['funnel']}" if item["funnel"] else ", ".join(item["channels"])
    console.print(f"[bold]{item['name']}[/bold] to {item['segment']} ({what}): {_when(item)}")
    console.print(f"  {item['status']}, {item['progress']:.0%}: {_counts(item['counts'])}")
    stats = item.get("stats") or {}
    if stats:
        console.print("  " + ", ".join(f"{name} {_number(stats.get(name, 0))}" for name in STATS))
        if stats.get("waiting"):
            console.print(f"  still held for quiet hours or caps: {int(stats['waiting']):,}")
    job = item.get("job") or {}
    if job.get("error"):
        console.print(f"  [red]error:[/red] {job['error']}")


def print_dry_run(console: Console, name: str, counts: dict[str, Any]) -> None:
    table = Table(title=f"{name}: what it would do now")
    table.add_column("members reached by")
    table.add_column("contacts", justify="right")
    for key, value in sorted(counts.items(), key=lambda kv: (kv[0] in _NOT_CHANNELS, kv[0])):
        if key != "members":
            table.add_row(_DRY_RUN_LABELS.get(key, key), f"{int(value):,}")
    console.print(table)
    console.print(f"{int(counts.get('members', 0)):,} members of the segment")


_DRY_RUN_LABELS = {
    "held_now": "  of them held now (quiet hours, caps)",
    "unreachable": "nobody (no address, opted out, bounced)",
    "opted_out": "nobody (switched the topic off)",
    "handed_over": "the funnel",
}
_NOT_CHANNELS = set(_DRY_RUN_LABELS) - {"handed_over"}


def _watch(api: AdminApi, name: str, every: float) -> None:
    console = Console(highlight=False)
    item = api.call("GET", _path(name))[1]
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counts]}"),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(name, total=1.0, counts=_counts(item["counts"]))
        while True:
            progress.update(
                task,
                completed=item["progress"],
                description=f"{name} {item['status']}",
                counts=_counts(item["counts"]),
            )
            if item["status"] in ENDED:
                break
            sleep(every)
            item = api.call("GET", _path(name))[1]
    print_one(console, item)
    if item["status"] != "done":
        raise SystemExit(1)


def _definition(
    source: str, name: str | None, segment: str | None, funnel: str | None
) -> tuple[str, dict[str, Any]]:
    path = Path(source)
    if path.is_file():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise click.ClickException(f"{path}: a broadcast is a mapping (segment, content ...)")
        return name or path.stem, data
    if not (segment and funnel):
        raise click.ClickException(
            f"{source}: no such file; without one, give --segment and --funnel (a hand-over)"
        )
    return name or source, {"segment": segment, "funnel": funnel}


def _path(name: str) -> str:
    return f"/admin/broadcasts/{name}"


def _when(item: dict[str, Any]) -> str:
    if item["status"] == "scheduled":
        return f"scheduled for {item['at']}"
    return item["status"]


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{name} {int(counts.get(name, 0)):,}" for name in SHOWN)


def _number(value: Any) -> str:
    number = float(value or 0)
    return f"{int(number):,}" if number.is_integer() else f"{number:,.2f}"


def _guarded(action: Any) -> None:
    try:
        action()
    except ApiFailure as failure:
        problems = failure.body.get("problems") if isinstance(failure.body, dict) else None
        details = "".join(f"\n  {p['field']}: {p['message']}" for p in problems or [])
        raise click.ClickException(f"{failure}{details}") from failure
    except OSError as error:
        raise click.ClickException(f"cannot reach the API: {error}") from error


COMMANDS: list[click.Command] = [broadcast]
