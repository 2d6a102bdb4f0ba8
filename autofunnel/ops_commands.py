"""Operator verbs for a stage on AWS: deploy, destroy, package, dlq."""

from __future__ import annotations

from pathlib import Path

import click

STAGE = click.option("--stage", required=True, help="Chalice stage in .chalice/config.json")
PROJECT = click.option(
    "--project-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="the Autofunnel checkout (default: this directory if it has .chalice/, else the CLI's)",
)


def _project(given: Path | None) -> Path:
    from autofunnel.package import PROJECT_DIR

    if given is not None:
        return given.resolve()
    here = Path.cwd()
    return here if (here / ".chalice" / "config.json").exists() else PROJECT_DIR


@click.command("deploy")
@STAGE
@PROJECT
def deploy(stage: str, project_dir: Path | None) -> None:
    """Deploy infra/template.yaml, then `chalice deploy` with its outputs and your secrets."""
    from autofunnel import deploy as deployment

    try:
        deployment.deploy(stage, _project(project_dir), echo=click.echo)
    except deployment.DeployError as error:
        raise click.ClickException(str(error)) from error


@click.command("destroy")
@STAGE
@PROJECT
@click.option(
    "--delete-tables/--keep-tables",
    default=None,
    help="delete the stage's tables and their data too (default: ask)",
)
def destroy(stage: str, project_dir: Path | None, delete_tables: bool | None) -> None:
    """Remove the stage's functions, API and infra stack; asks before deleting its tables."""
    from autofunnel import deploy as deployment

    def agree(tables: list[str]) -> bool:
        if delete_tables is not None:
            return delete_tables
        click.echo("These tables hold the stage's contacts, events and messages:")
        for table in tables:
            click.echo(f"  {table}")
        return click.confirm(
            "Delete them with all their data? (their point-in-time backups go too)",
            default=False,
        )

    try:
        deployment.destroy(stage, agree, _project(project_dir), echo=click.echo)
    except deployment.DeployError as error:
        raise click.ClickException(str(error)) from error


@click.command("package")
@STAGE
@PROJECT
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
def package_command(stage: str, project_dir: Path | None, out: Path) -> None:
    """Write the Lambda package and its SAM template (`chalice package`) into OUT."""
    from autofunnel.package import build_package

    archive = build_package(stage, out, project_dir=_project(project_dir))
    click.echo(f"{archive} ({archive.stat().st_size / 1e6:.1f} MB)")


@click.group("dlq")
def dlq() -> None:
    """The dead-letter queues: undelivered wake-ups, event batches the worker gave up on."""


QUEUE = click.option(
    "--queue",
    type=click.Choice(["wakeups", "worker", "all"]),
    default="all",
    show_default=True,
)


@dlq.command("list")
@STAGE
@QUEUE
@click.option("--limit", default=10, show_default=True, help="messages shown per queue")
def dlq_list(stage: str, queue: str, limit: int) -> None:
    """Show how many messages wait in each queue, and the first few (nothing is consumed)."""
    from autofunnel import dlq as letters
    from autofunnel.deploy import Aws

    sqs = Aws.from_environment().client("sqs")
    for name in letters.QUEUES if queue == "all" else [queue]:
        url = letters.queue_url(sqs, stage, name)
        click.echo(f"{name}: {letters.depth(sqs, url)} message(s)")
        for letter in letters.peek(sqs, url, name, limit):
            click.echo(
                f"  {letter.message_id}  received {letter.receive_count}x  {letter.summary()}"
            )


@dlq.command("redrive")
@STAGE
@QUEUE
@click.option("--limit", default=100, show_default=True, help="messages redriven per queue")
def dlq_redrive(stage: str, queue: str, limit: int) -> None:
    """Hand each message back to its function; deleted only when that succeeds."""
    from autofunnel import dlq as letters
    from autofunnel.deploy import Aws

    aws = Aws.from_environment()
    total_kept = 0
    for name in letters.QUEUES if queue == "all" else [queue]:
        redriven, kept = letters.redrive(
            stage,
            name,
            aws.client("sqs"),
            aws.client("lambda"),
            aws.client("dynamodbstreams"),
            limit,
            click.echo,
        )
        total_kept += kept
        click.echo(f"{name}: {redriven} redriven, {kept} kept")
    if total_kept:
        raise SystemExit(1)


COMMANDS: list[click.Command] = [deploy, destroy, package_command, dlq]
