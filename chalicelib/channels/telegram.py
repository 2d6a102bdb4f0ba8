"""Telegram through the Bot API's sendMessage, over HTTPS with the standard library.

`content`: `text`, optional `parse_mode` ("HTML" / "MarkdownV2") and `buttons`: a list of
`{"text", "url"}` / `{"text", "callback_data"}` or `{"text", "id"}` (one per row) or a list of
such rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.channels import http
from chalicelib.channels.base import OutgoingMessage, SendResult
from chalicelib.channels.retry import classify_telegram

TELEGRAM_API = "https://api.telegram.org"
_BUTTON_FIELDS = ("text", "url", "callback_data")


def inline_keyboard(buttons: Any) -> list[list[dict[str, str]]]:
    rows: list[list[dict[str, str]]] = []
    for entry in buttons or ():
        row = entry if isinstance(entry, list) else [entry]
        cells = [
            {key: str(value) for key in _BUTTON_FIELDS if (value := _field(button, key))}
            for button in row
            if isinstance(button, Mapping) and button.get("text")
        ]
        if cells:
            rows.append(cells)
    return rows


def _field(button: Mapping[str, Any], key: str) -> Any:
    # A funnel's reply button {"text", "id"} is Telegram's callback_data: pressing it comes back
    # as a callback query, i.e. `button_clicked {button: id}`.
    return button.get(key) if key != "callback_data" else button.get(key) or button.get("id")


class TelegramBot:
    name = "telegram"

    def __init__(self, token: str, api_base: str = TELEGRAM_API, timeout: float = 10.0) -> None:
        self.token = token
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        content = message.content
        payload: dict[str, Any] = {
            "chat_id": message.address,
            "text": str(content.get("text") or content.get("body") or ""),
        }
        if content.get("parse_mode"):
            payload["parse_mode"] = content["parse_mode"]
        keyboard = inline_keyboard(content.get("buttons"))
        if keyboard:
            payload["reply_markup"] = {"inline_keyboard": keyboard}
        return payload

    def send(self, message: OutgoingMessage) -> SendResult:
        response = http.post_json(
            f"{self.api_base}/bot{self.token}/sendMessage",
            self.payload(message),
            timeout=self.timeout,
            label="Telegram sendMessage",  # the URL carries the bot token: never in errors
        )
        body = response.json() if isinstance(response.json(), dict) else {}
        if response.status != 200 or not body.get("ok"):
            raise classify_telegram(response.status, body, response.headers)
        sent = body.get("result") or {}
        # Telegram message ids are unique per chat only.
        return SendResult(provider_id=f"{message.address}:{sent.get('message_id')}")
