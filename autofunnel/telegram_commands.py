"""`autofunnel telegram set-webhook|webhook-info`: point a bot's webhook at the deployed API.

The secret Telegram echoes in X-Telegram-Bot-Api-Secret-Token is derived from
AUTOFUNNEL_SIGNING_SECRET and the bot's username, exactly as the API derives it, so nothing new
has to be added to the stage's environment (TELEGRAM_WEBHOOK_SECRET overrides it on both sides).
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import click

from chalicelib.channels import http
from chalicelib.channels.base import TemporaryFailure
from chalicelib.channels.telegram import TELEGRAM_API
from chalicelib.webhooks.credentials import derived_telegram_secret

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def bot_api(api_base: str, token: str, method: str, payload: dict[str, Any]) -> Any:
    """One Bot API call; ClickException with Telegram's description when it fails."""
    try:
        response = http.post_json(
            f"{api_base.rstrip('/')}/bot{token}/{method}", payload, label=f"Telegram {method}"
        )
    except TemporaryFailure as error:
        raise click.ClickException(str(error)) from error
    body = response.json() if isinstance(response.json(), dict) else {}
    if response.status != 200 or not body.get("ok"):
        raise click.ClickException(
            f"Telegram {method}: {body.get('description') or f'HTTP {response.status}'}"
        )
    return body.get("result")


TOKEN = click.option(
    "--token", default=lambda: _env("TELEGRAM_BOT_TOKEN"), help="bot token ($TELEGRAM_BOT_TOKEN)"
)
API_BASE = click.option(
    "--api-base",
    default=lambda: _env("TELEGRAM_API_BASE_URL") or TELEGRAM_API,
    help="Bot API base URL ($TELEGRAM_API_BASE_URL)",
)


@click.group("telegram")
def telegram() -> None:
    """The Telegram bot's webhook."""


@telegram.command("set-webhook")
@TOKEN
@API_BASE
@click.option(
    "--url",
    default=lambda: _env("AUTOFUNNEL_PUBLIC_URL"),
    help="the API's public base URL ($AUTOFUNNEL_PUBLIC_URL)",
)
@click.option(
    "--signing-secret",
    default=lambda: _env("AUTOFUNNEL_SIGNING_SECRET"),
    help="derive the webhook secret from it ($AUTOFUNNEL_SIGNING_SECRET)",
)
@click.option(
    "--secret",
    default=lambda: _env("TELEGRAM_WEBHOOK_SECRET"),
    help="use this webhook secret instead ($TELEGRAM_WEBHOOK_SECRET)",
)
@click.option("--drop-pending-updates", is_flag=True, help="discard updates Telegram queued")
def set_webhook(
    token: str | None,
    api_base: str,
    url: str | None,
    signing_secret: str | None,
    secret: str | None,
    drop_pending_updates: bool,
) -> None:
    """Register https://<api>/webhooks/telegram/<bot> with the bot, with its secret token."""
    if not token:
        raise click.UsageError("the bot token is needed: --token or $TELEGRAM_BOT_TOKEN")
    if not url or not url.startswith("https://"):
        raise click.UsageError("Telegram delivers only to https: --url or $AUTOFUNNEL_PUBLIC_URL")
    me = bot_api(api_base, token, "getMe", {})
    username = str(me.get("username") or "")
    generated = not (secret or signing_secret)
    if secret is None:
        secret = (
            derived_telegram_secret(signing_secret, username)
            if signing_secret
            else secrets.token_urlsafe(32)
        )
    webhook = f"{url.rstrip('/')}/webhooks/telegram/{username}"
    bot_api(
        api_base,
        token,
        "setWebhook",
        {
            "url": webhook,
            "secret_token": secret,
            "allowed_updates": ALLOWED_UPDATES,
            "drop_pending_updates": drop_pending_updates,
        },
    )
    click.echo(f"@{username}: updates now go to {webhook}")
    click.echo(f"Set TELEGRAM_BOT_USERNAME={username} on the stage for t.me deep links.")
    if generated:
        click.echo(f"No signing secret given: set TELEGRAM_WEBHOOK_SECRET={secret} on the stage.")


@telegram.command("webhook-info")
@TOKEN
@API_BASE
def webhook_info(token: str | None, api_base: str) -> None:
    """Where the bot's updates go, how many wait, and the last delivery error."""
    if not token:
        raise click.UsageError("the bot token is needed: --token or $TELEGRAM_BOT_TOKEN")
    info = bot_api(api_base, token, "getWebhookInfo", {})
    click.echo(f"url: {info.get('url') or '(none)'}")
    click.echo(f"pending updates: {info.get('pending_update_count', 0)}")
    if info.get("last_error_message"):
        click.echo(f"last error: {info['last_error_message']}")


COMMANDS: list[click.Command] = [telegram]
