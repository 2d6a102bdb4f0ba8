"""Operator verbs that talk to a running Autofunnel's admin API: push, funnels, outbox."""

from __future__ import annotations

from pathlib import Path

import click

from autofunnel.api_client import AdminApi, ApiFailure
from autofunnel.funnel_commands import funnel_files

URL_OPTION = click.option("--url", help="API base URL (default $AUTOFUNNEL_URL or the local stack)")
KEY_OPTION = click.option("--admin-key", help="admin key (default $AUTOFUNNEL_ADMIN_KEY)")


@click.command("push")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@URL_OPTION
@KEY_OPTION
def push(paths: tuple[Path, ...], url: str | None, admin_key: str | None) -> None:
    """Validate and upload funnels (files or folders of *.yaml) as new versions."""
    api = AdminApi.from_env(url, admin_key)
    failed = False
    for path in [file for given in paths for file in funnel_files(given)]:
        text = path.read_text()
        name = _funnel_name(text) or path.stem
        try:
            _status, body = api.call(
                "PUT", f"/admin/funnels/{name}", text.encode(), "application/yaml"
            )
        except ApiFailure as failure:
            failed = True
            click.echo(f"{path}: rejected ({failure})", err=True)
            for problem in (
                (failure.body or {}).get("problems", []) if isinstance(failure.body, dict) else []
            ):
                click.echo(
                    f"  {path}:{problem['line']}: {problem['field']}: {problem['message']}",
                    err=True,
                )
            continue
        change = "new version" if body["created"] else "unchanged"
        click.echo(f"{path}: {body['name']} v{body['version']} ({change})")
    if failed:
        raise SystemExit(1)


@click.command("funnels")
@URL_OPTION
@KEY_OPTION
def funnels(url: str | None, admin_key: str | None) -> None:
    """List the funnels with their latest version and state."""
    _, body = AdminApi.from_env(url, admin_key).call("GET", "/admin/funnels")
    for funnel in body["funnels"]:
        click.echo(f"{funnel['name']:<32} v{funnel['version']:<4} {funnel['state']}")


@click.command("outbox")
@click.option("--contact", help="only this contact's messages")
@click.option("--limit", default=20, show_default=True)
@URL_OPTION
@KEY_OPTION
def outbox(contact: str | None, limit: int, url: str | None, admin_key: str | None) -> None:
    """Show the newest messages the outbox holds (sends with no provider configured)."""
    query = f"?limit={limit}" + (f"&contact_id={contact}" if contact else "")
    _, body = AdminApi.from_env(url, admin_key).call("GET", f"/admin/outbox{query}")
    for message in body["messages"]:
        content = message["content"] or {}
        first_line = (content.get("subject") or content.get("text") or "").splitlines()[:1]
        click.echo(
            f"{message['created_at'][:19]}  {message['contact_id']:<20} {message['funnel']}/"
            f"{message['step_id']:<16} {message['channel']:<9} {' '.join(first_line)[:60]}"
        )


def _funnel_name(text: str) -> str | None:
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return document.get("name") if isinstance(document, dict) else None


COMMANDS: list[click.Command] = [push, funnels, outbox]
