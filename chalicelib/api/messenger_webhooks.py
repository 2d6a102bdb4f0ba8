"""Messenger bot webhooks: Telegram (per bot) and Meta (Messenger, Instagram, WhatsApp Cloud).

Both fail closed: without their secret they answer 503 and store nothing, and a wrong
`X-Telegram-Bot-Api-Secret-Token` / `X-Hub-Signature-256` is answered 403. Updates are stored
once each (Telegram's update_id, Meta's message ids); updates that are not mapped are answered
200 with a log line, so the platform neither retries nor drops the subscription.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Response
from pynamodb.exceptions import PynamoDBException

from chalicelib import wiring
from chalicelib.api.errors import ApiError, json_errors, json_response, storage_unavailable
from chalicelib.api.shop_webhooks import json_body, raw_body, verified
from chalicelib.api.shop_webhooks import parsed as parse_as
from chalicelib.eventlog.append import receive
from chalicelib.eventlog.entry import CONSENT
from chalicelib.ingest.spec import CallError
from chalicelib.storage.errors import ConflictError
from chalicelib.webhooks import credentials
from chalicelib.webhooks.signatures import verify_hex_hmac, verify_secret

if TYPE_CHECKING:  # each messenger's parsing loads in its own route, not at every cold start
    from chalicelib.webhooks.chats import ChatUpdate

log = logging.getLogger(__name__)
blueprint = Blueprint(__name__)
JSON = ["application/json"]
BOT_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def _apply(updates: list[ChatUpdate], namespace: str, source: str) -> dict[str, Any]:
    """Append the updates to the log: {"stored": [event names], "duplicates": n}."""
    from chalicelib.webhooks import chats

    now = datetime.now(UTC)
    try:
        entries = chats.entries(updates, namespace, source, now)
        appended = receive(entries, now)
    except CallError as error:  # a value DynamoDB cannot store
        raise ApiError(400, error.message, field=error.field) from error
    except (PynamoDBException, ConflictError) as error:
        raise storage_unavailable(error) from error
    stored = {(e.subject, e.event_id) for e in appended.stored}
    return {
        "stored": [
            e.name for e in entries if (e.subject, e.event_id) in stored and e.type != CONSENT
        ],
        "duplicates": sum(1 for e in appended.duplicates if e.type != CONSENT),
    }


@blueprint.route("/webhooks/telegram/{bot}", methods=["POST"], content_types=JSON)
@json_errors
def telegram_webhook(bot: str) -> Response:
    if not BOT_NAME.match(bot):
        raise ApiError(404, "unknown bot")
    request = blueprint.current_request
    settings = wiring.storage()
    given = request.headers.get("x-telegram-bot-api-secret-token") or ""
    verified(verify_secret, credentials.telegram(settings, bot), "the bot's webhook secret", given)
    body = json_body(raw_body(request))
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON Update object")
    from chalicelib.webhooks import telegram

    now = datetime.now(UTC)
    parsed = parse_as("Telegram", telegram.parse, body, bot, settings.signing_secret, now)
    if parsed.update is None:
        log.info("telegram webhook (%s): %s is not mapped; ignored", bot, parsed.why)
        return json_response(parsed.answer or {"ignored": parsed.why})
    applied = _apply([parsed.update], f"telegram:{bot}", telegram.CHANNEL)
    # Telegram runs a Bot API method given as the answer (answerCallbackQuery): no extra call.
    return json_response(parsed.answer or applied)


@blueprint.route("/webhooks/meta", methods=["GET"])
@json_errors
def meta_handshake() -> Response:
    """Meta's subscription check: echo hub.challenge when hub.verify_token is ours."""
    params: Mapping[str, str] = blueprint.current_request.query_params or {}
    token = credentials.meta_verify_token(wiring.storage())
    if params.get("hub.mode") != "subscribe":
        raise ApiError(400, "expected hub.mode=subscribe")
    verified(
        verify_secret, token, credentials.META_VERIFY_TOKEN, params.get("hub.verify_token", "")
    )
    return Response(
        body=params.get("hub.challenge", ""),
        status_code=200,
        headers={"Content-Type": "text/plain"},
    )


@blueprint.route("/webhooks/meta", methods=["POST"], content_types=JSON)
@json_errors
def meta_webhook() -> Response:
    request = blueprint.current_request
    settings = wiring.storage()
    raw = raw_body(request)
    signature = request.headers.get("x-hub-signature-256") or ""
    # Over the raw bytes as received: re-serialised JSON would not match Meta's signature.
    verified(
        verify_hex_hmac,
        credentials.meta_app_secret(settings),
        credentials.META_APP_SECRET,
        raw,
        signature,
    )
    body = json_body(raw)
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object")
    from chalicelib.webhooks import meta

    parsed = parse_as("Meta", meta.parse, body, settings.signing_secret, datetime.now(UTC))
    for reason in parsed.ignored:
        log.info("meta webhook: %s is not mapped; ignored", reason)
    if not parsed.updates:
        return json_response({"stored": [], "duplicates": 0, "ignored": parsed.ignored})
    applied = _apply(parsed.updates, "meta", "meta")
    return json_response({**applied, "ignored": parsed.ignored})
