"""`autofunnel telegram set-webhook` against a local stand-in for the Bot API: the webhook it
registers is one the API then accepts (both derive the same secret), and nothing else is."""

from __future__ import annotations

from chalice.test import Client
from click.testing import CliRunner

from autofunnel.cli import main
from tests.integration.webhooks.conftest import SIGNING_SECRET, fixture, post_telegram
from tests.provider_stub import Recorded, Reply, running


def bot_api(request: Recorded) -> Reply:
    if request.path.endswith("/getMe"):
        return Reply(
            200, {"ok": True, "result": {"id": 7000000001, "is_bot": True, "username": "shop_bot"}}
        )
    if request.path.endswith("/setWebhook"):
        return Reply(200, {"ok": True, "result": True, "description": "Webhook was set"})
    return Reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})


def test_set_webhook_registers_a_secret_the_api_accepts(api: Client) -> None:
    with running() as stub:
        stub.default = bot_api
        result = CliRunner().invoke(
            main,
            [
                "telegram",
                "set-webhook",
                "--token",
                "123456:ABC-DEF",
                "--api-base",
                stub.url,
                "--url",
                "https://af.example.test/api",
                "--signing-secret",
                SIGNING_SECRET,
            ],
            env={"TELEGRAM_WEBHOOK_SECRET": ""},
        )
    assert result.exit_code == 0, result.output
    assert (
        "@shop_bot: updates now go to https://af.example.test/api/webhooks/telegram/shop_bot"
        in (result.output)
    )
    assert [r.path for r in stub.requests] == [
        "/bot123456:ABC-DEF/getMe",
        "/bot123456:ABC-DEF/setWebhook",
    ]
    registered = stub.requests[1].json()
    assert registered["url"] == "https://af.example.test/api/webhooks/telegram/shop_bot"
    assert registered["allowed_updates"] == ["message", "callback_query", "my_chat_member"]
    secret = registered["secret_token"]
    assert 1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)

    accepted = post_telegram(api, fixture("telegram/text.json"), secret=secret)
    refused = post_telegram(api, fixture("telegram/text.json"), secret=secret[:-1] + "x")
    assert (accepted.status_code, refused.status_code) == (200, 403)


def test_set_webhook_reports_telegrams_refusal_and_needs_https() -> None:
    with running() as stub:
        stub.default = Reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        refused = CliRunner().invoke(
            main,
            [
                "telegram",
                "set-webhook",
                "--token",
                "bad",
                "--api-base",
                stub.url,
                "--url",
                "https://af.example.test",
                "--signing-secret",
                "s",
            ],
        )
    assert refused.exit_code == 1 and "Telegram getMe: Unauthorized" in refused.output
    plain = CliRunner().invoke(
        main, ["telegram", "set-webhook", "--token", "t", "--url", "http://insecure.example"]
    )
    assert plain.exit_code == 2 and "https" in plain.output
