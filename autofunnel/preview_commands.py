"""`autofunnel preview` and `autofunnel send-test`: a step's message before anyone gets it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from autofunnel.admin_commands import KEY_OPTION, URL_OPTION
from autofunnel.api_client import AdminApi, ApiFailure


def _request(funnel: str, step: str, contact: str | None, channel: str | None) -> dict[str, Any]:
    path = Path(funnel)
    body: dict[str, Any] = {"step": step}
    if path.is_file():
        body["source"] = path.read_text(encoding="utf-8")
    else:
        body["funnel"] = funnel
    if contact:
        body["contact"] = contact
    if channel:
        body["channel"] = channel
    return body


def _offline(funnel: Path, step: str, channel: str | None) -> dict[str, Any]:
    """A funnel file with its sample data: no running stack needed."""
    from autofunnel.funnel_commands import load_funnels
    from chalicelib.core import templates
    from chalicelib.core.state import ContactView
    from chalicelib.runtime import preview

    funnels, problems = load_funnels([funnel])
    if problems:
        raise click.ClickException("\n".join(str(p) for p in problems))
    (found,) = funnels
    sample = found.sample
    attributes = {**templates.SAMPLE_CONTACT, **(sample.contact if sample else {})}
    figures = {k: v for k, v in templates.SAMPLE_FIGURES.items() if k not in attributes}
    contact = ContactView("sample-contact", attributes=attributes, figures=figures)
    event = dict(sample.event) if sample else {}
    try:
        rendered = preview.render(found, step, contact, event, templates.SAMPLE_LINKS, channel)
    except preview.NotASend as error:
        raise click.ClickException(str(error)) from error
    return {**rendered.to_dict(), "contact": "sample"}


@click.command("preview")
@click.argument("funnel")
@click.argument("step")
@click.option("--contact", help="render for this contact (email or contact id); default: sample")
@click.option("--channel", help="only this channel of the step")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the email's HTML to this file (open it in a browser)",
)
@click.option("--json", "as_json", is_flag=True, help="print the JSON the API answers")
@URL_OPTION
@KEY_OPTION
def preview(
    funnel: str,
    step: str,
    contact: str | None,
    channel: str | None,
    html_file: Path | None,
    as_json: bool,
    url: str | None,
    admin_key: str | None,
) -> None:
    """Show STEP of FUNNEL (a published funnel's name, or a YAML file) as a contact gets it."""
    if Path(funnel).is_file() and not contact:
        body = _offline(Path(funnel), step, channel)
    else:
        try:
            _, body = AdminApi.from_env(url, admin_key).call(
                "POST",
                "/admin/preview",
                json.dumps(_request(funnel, step, contact, channel)).encode(),
            )
        except ApiFailure as failure:
            raise click.ClickException(str(failure)) from failure
    if as_json:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    _print(body, html_file)


def _print(body: dict[str, Any], html_file: Path | None) -> None:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    console = Console()
    who = body.get("contact")
    whom = "the funnel's sample" if who == "sample" else f"contact {who.get('contact_id')}"
    console.print(f"[bold]{body['funnel']} / {body['step']}[/bold] for {whom}")
    for channel, parts in body["channels"].items():
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        if channel == "email":
            table.add_row("subject", parts.get("subject", ""))
            if parts.get("preheader"):
                table.add_row("preheader", parts["preheader"])
            label = "text (from the HTML)" if parts.get("text_derived") else "text"
            table.add_row(label, parts.get("text", ""))
            if parts.get("html"):
                table.add_row("html", f"{len(parts['html'])} characters")
                if html_file is not None:
                    html_file.write_text(parts["html"], encoding="utf-8")
                    table.add_row("", f"written to {html_file}")
        else:
            for name in ("style", "title", "text"):
                if parts.get(name):
                    table.add_row(name, str(parts[name]))
            if "encoding" in parts:
                table.add_row(
                    "encoding",
                    f"{parts['encoding']}, {parts['characters']} characters, "
                    f"{parts['segments']} segment(s)",
                )
            for button in parts.get("buttons") or []:
                target = button.get("url") or f"reply button {button.get('id')}"
                table.add_row("button", f"[{button['text']}] → {target}")
            if parts.get("capture"):
                capture = parts["capture"]
                table.add_row("form", f"{capture['field']}: [{capture['button']}]")
        for warning in parts.get("warnings") or []:
            table.add_row("[red]warning[/red]", f"[red]{warning}[/red]")
        console.print(Panel(table, title=channel, title_align="left"))


@click.command("send-test")
@click.argument("funnel")
@click.argument("step")
@click.option("--to", "to", required=True, help="the address to send to (email, phone, chat id)")
@click.option("--contact", help="render for this contact (email or contact id); default: sample")
@click.option("--channel", help="which of the step's channels (default: its first)")
@URL_OPTION
@KEY_OPTION
def send_test(
    funnel: str,
    step: str,
    to: str,
    contact: str | None,
    channel: str | None,
    url: str | None,
    admin_key: str | None,
) -> None:
    """Send STEP of FUNNEL to yourself through the real provider, marked as a test (counted in
    no figure, on no contact's timeline)."""
    body = {**_request(funnel, step, contact, channel), "to": to}
    try:
        _, sent = AdminApi.from_env(url, admin_key).call(
            "POST", "/admin/test-sends", json.dumps(body).encode()
        )
    except ApiFailure as failure:
        raise click.ClickException(str(failure)) from failure
    click.echo(
        f"sent a test of {funnel}/{step} on {sent['channel']} to {sent['to']} via {sent['via']} "
        f"(message {sent['message_id']})"
    )


COMMANDS: list[click.Command] = [preview, send_test]
