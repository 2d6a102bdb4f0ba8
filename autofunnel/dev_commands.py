"""Local development verbs (deploying: ops_commands.py)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from autofunnel import devstack, dynamodb_local
from autofunnel.infra import TEMPLATE_PATH, render_template


@click.command("dev")
@click.option(
    "--time-scale",
    type=float,
    help="funnel time runs this much faster (60: a minute a second)",
)
@click.option("--no-demo", is_flag=True, help="do not seed the demo data on the first start")
def dev(time_scale: float | None, no_demo: bool) -> None:
    """Run the local stack: DynamoDB Local, tables, funnels, scheduler, API (`make run`)."""
    if no_demo:  # analytics' demo seed reads this (autofunnel/demo_seed.py)
        os.environ["AUTOFUNNEL_NO_DEMO"] = "1"
    try:
        code = devstack.run(devstack.LocalOptions.from_env(time_scale))
    except dynamodb_local.SetupError as error:
        raise click.ClickException(str(error)) from error
    raise SystemExit(code)


@click.command("infra-template")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=TEMPLATE_PATH)
def infra_template(output: Path) -> None:
    """Write infra/template.yaml from the table definitions in the models."""
    output.write_text(render_template())
    click.echo(f"wrote {output}")


COMMANDS: list[click.Command] = [dev, infra_template]
