"""The `autofunnel` operator CLI. Each group of verbs lives in its own module."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="autofunnel")
def main() -> None:
    """Autofunnel: funnels as code on your own AWS account."""


def _register() -> None:
    from autofunnel import (
        admin_commands,
        broadcast_commands,
        dev_commands,
        funnel_commands,
        job_commands,
        ops_commands,
        preview_commands,
        stats_commands,
        telegram_commands,
    )

    modules = (
        dev_commands,
        ops_commands,
        funnel_commands,
        admin_commands,
        preview_commands,
        stats_commands,
        job_commands,
        broadcast_commands,
        telegram_commands,
    )
    for command in [command for module in modules for command in module.COMMANDS]:
        main.add_command(command)


_register()
