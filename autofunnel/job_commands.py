"""`autofunnel jobs`: paged jobs of a running Autofunnel (RFM scoring, segment backfills and
rechecks, date triggers, the sweeper), with a progress bar, read from the admin API."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from autofunnel.admin_commands import KEY_OPTION, URL_OPTION
from autofunnel.api_client import AdminApi, ApiFailure

STARTABLE = {"rfm": "/admin/jobs/rfm", "segments": "/admin/jobs/segments"}
FINISHED = ("done", "failed", "cancelled")
sleep = time.sleep  # replaced by tests


@click.group("jobs", invoke_without_command=True)
@URL_OPTION
@KEY_OPTION
@click.pass_context
def jobs(context: click.Context, url: str | None, admin_key: str | None) -> None:
    """Paged jobs: the newest ones, or one with its progress (see the subcommands)."""
    context.obj = AdminApi.from_env(url, admin_key)
    if context.invoked_subcommand is None:
        _guarded(lambda: print_jobs(Console(highlight=False), context.obj))


@jobs.command("show")
@click.argument("job_id")
@click.pass_obj
def show(api: AdminApi, job_id: str) -> None:
    """One job: status, passes, counts, error."""
    _guarded(lambda: print_job(Console(highlight=False), _get(api, job_id)))


@jobs.command("watch")
@click.argument("job_id")
@click.option("--every", default=1.0, show_default=True, help="seconds between polls")
@click.pass_obj
def watch(api: AdminApi, job_id: str, every: float) -> None:
    """A progress bar until the job ends; exit status 1 unless it is done."""
    _guarded(lambda: _watch(api, job_id, every))


@jobs.command("start")
@click.argument("kind", type=click.Choice(sorted(STARTABLE)))
@click.option("--watch/--no-watch", "follow", default=True, show_default=True)
@click.option("--every", default=1.0, show_default=True, help="seconds between polls")
@click.pass_obj
def start(api: AdminApi, kind: str, follow: bool, every: float) -> None:
    """Queue RFM scoring or the due segment rechecks (one of a kind runs at a time)."""

    def run() -> None:
        _, job = api.call("POST", STARTABLE[kind])
        note = "queued" if job["created"] else "already open"
        click.echo(f"{job['id']} ({job['kind']}): {note}")
        if follow:
            _watch(api, job["id"], every)

    _guarded(run)


@jobs.command("cancel")
@click.argument("job_id")
@click.pass_obj
def cancel(api: AdminApi, job_id: str) -> None:
    """Stop a queued or running job at its next checkpoint."""

    def run() -> None:
        _, job = api.call("POST", f"/admin/jobs/{job_id}/cancel")
        click.echo(f"{job_id}: {job['status']}")

    _guarded(run)


def print_jobs(console: Console, api: AdminApi) -> None:
    found = api.call("GET", "/admin/jobs")[1]["jobs"]
    if not found:
        console.print("No jobs yet.")
        return
    table = Table(title="Jobs (newest first)")
    for name in ("job", "kind", "status", "progress", "counts", "updated"):
        table.add_column(name, justify="right" if name == "progress" else "left")
    for job in found:
        table.add_row(
            job["id"],
            job["kind"],
            job["status"],
            f"{job['progress']:.0%}",
            _counts(job),
            job["updated_at"][:19].replace("T", " "),
        )
    console.print(table)


def print_job(console: Console, job: dict[str, Any]) -> None:
    head = f"[bold]{job['id']}[/bold] ({job['kind']}): {job['status']}, {job['progress']:.0%}"
    console.print(head)
    for step in job["passes"]:
        total = f" of ~{step['total']:,}" if step["total"] else ""
        now = "current" if step["name"] == job["pass"] else ""
        state = "finished" if step["finished"] else now
        console.print(f"  pass {step['name']}: {step['done']:,}{total} {state}".rstrip())
    console.print(f"  counts: {_counts(job) or '-'}")
    console.print(f"  {job['invocations']} invocations, {job['pages']} pages")
    if job["error"]:
        console.print(f"  [red]error:[/red] {job['error']}")


def _watch(api: AdminApi, job_id: str, every: float) -> None:
    console = Console(highlight=False)
    job = _get(api, job_id)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counts]}"),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(_label(job), total=1.0, counts=_counts(job))
        while True:
            progress.update(
                task, completed=job["progress"], description=_label(job), counts=_counts(job)
            )
            if job["status"] in FINISHED:
                break
            sleep(every)
            job = _get(api, job_id)
    print_job(console, job)
    if job["status"] != "done":
        raise SystemExit(1)


def _get(api: AdminApi, job_id: str) -> dict[str, Any]:
    return dict(api.call("GET", f"/admin/jobs/{job_id}")[1])


def _label(job: dict[str, Any]) -> str:
    return f"{job['kind']} {job['pass'] or job['status']}"


def _counts(job: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value:,}" for name, value in job["counts"].items())


def _guarded(action: Any) -> None:
    try:
        action()
    except ApiFailure as failure:
        raise click.ClickException(str(failure)) from failure
    except OSError as error:
        raise click.ClickException(f"cannot reach the API: {error}") from error


COMMANDS: list[click.Command] = [jobs]
