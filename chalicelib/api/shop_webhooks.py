"""Shop webhooks: Shopify, WooCommerce and the generic signed format for any other shop.

Each verifies its signature over the raw body before anything is read (constant time), answers
503 when its secret is not configured and 403 on a bad signature (nothing stored either way),
appends each event to the log once (replays answer 200 as duplicates), and answers 200 to a
topic it does not map, with a log line, so the shop does not retry or disable the subscription.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from chalice.app import Blueprint, Request, Response
from pynamodb.exceptions import PynamoDBException

from chalicelib import wiring
from chalicelib.api.errors import ApiError, json_errors, json_response, storage_unavailable
from chalicelib.core.trust import SHOP
from chalicelib.eventlog.append import receive
from chalicelib.ingest.spec import CallError
from chalicelib.storage.errors import ConflictError
from chalicelib.webhooks import credentials, fields
from chalicelib.webhooks.signatures import (
    BadSignature,
    WebhookNotConfigured,
    verify_base64_hmac,
    verify_hex_hmac,
)

if TYPE_CHECKING:  # each shop's parsing loads in its own route, not at every cold start
    from chalicelib.webhooks.inbound import Inbound

log = logging.getLogger(__name__)
blueprint = Blueprint(__name__)
JSON = ["application/json"]
SHOP_SIGNATURE = "X-Autofunnel-Signature"


def verified(check: Callable[..., None], *args: Any) -> None:
    """The check's verdict as HTTP: 503 not configured, 403 bad signature."""
    try:
        check(*args)
    except WebhookNotConfigured as error:
        raise ApiError(503, f"webhook not configured: {error}") from error
    except BadSignature as error:
        raise ApiError(403, f"invalid signature: {error}") from error


def raw_body(request: Request) -> bytes:
    """The body exactly as sent: signatures are over these bytes."""
    raw = request.raw_body
    return raw.encode() if isinstance(raw, str) else (raw or b"")


Parsed = TypeVar("Parsed")


def parsed(source: str, parse: Callable[..., Parsed], *args: Any) -> Parsed:
    """The parser's result; a payload whose fields have unexpected types (a list where the
    format has an object...) is a 400 naming the source, never a crash. Parsers are pure, so
    nothing is stored yet when one fails."""
    try:
        return parse(*args)
    except (TypeError, AttributeError, ValueError, KeyError, IndexError, OverflowError) as error:
        log.warning("%s webhook: unexpected payload: %r", source, error)
        raise ApiError(
            400, f"the payload does not have the shape of a {source} webhook: {error}"
        ) from error


def json_body(raw: bytes) -> Any:
    try:
        return fields.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(400, f"the body is not valid JSON: {error}") from error


def save(events: list[Inbound], namespace: str, source: str) -> Response:
    """Append the events to the log; 503 (the sender retries, replays are harmless) if storage
    fails."""
    from chalicelib.webhooks.inbound import check, to_entries

    settings = wiring.storage()
    try:
        check(events)  # before any write
        entries = to_entries(events, namespace, source, settings.phone_region, trust=SHOP)
        appended = receive(entries, datetime.now(UTC))
    except CallError as error:  # a value DynamoDB cannot store: the sender must fix it
        raise ApiError(400, error.message, field=error.field) from error
    except (PynamoDBException, ConflictError) as error:
        raise storage_unavailable(error) from error
    stored = {(entry.subject, entry.event_id) for entry in appended.stored}
    names = [entry.name for entry in entries if (entry.subject, entry.event_id) in stored]
    return json_response({"stored": names, "duplicates": len(appended.duplicates)})


def ignored(source: str, topic: str) -> Response:
    log.info("%s webhook: topic %r is not mapped; ignored", source, topic)
    return json_response({"ignored": topic})


@blueprint.route("/webhooks/shopify", methods=["POST"], content_types=JSON)
@json_errors
def shopify_webhook() -> Response:
    request = blueprint.current_request
    raw = raw_body(request)
    secret = credentials.shopify(wiring.storage())
    signature = request.headers.get("x-shopify-hmac-sha256") or ""
    verified(verify_base64_hmac, secret, credentials.SHOPIFY_SECRET, raw, signature)
    topic = request.headers.get("x-shopify-topic") or ""
    body = json_body(raw)
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object")
    webhook_id = request.headers.get("x-shopify-webhook-id") or ""
    from chalicelib.webhooks import shopify

    events = parsed("Shopify", shopify.parse, topic, body, webhook_id, datetime.now(UTC))
    if events is None:
        return ignored(shopify.SOURCE, topic)
    shop = request.headers.get("x-shopify-shop-domain") or "shop"
    return save(events, f"shopify:{shop}", shopify.SOURCE)


@blueprint.route(
    "/webhooks/woocommerce",
    methods=["POST"],
    content_types=[*JSON, "application/x-www-form-urlencoded"],
)
@json_errors
def woocommerce_webhook() -> Response:
    request = blueprint.current_request
    raw = raw_body(request)
    topic = request.headers.get("x-wc-webhook-topic") or ""
    if not topic and raw.startswith(b"webhook_id="):
        # WooCommerce pings a new webhook's URL (unsigned, no topic) and saves it only on a
        # 2xx answer. The ping stores nothing.
        return json_response({"pong": True})
    secret = credentials.woocommerce(wiring.storage())
    signature = request.headers.get("x-wc-webhook-signature") or ""
    verified(verify_base64_hmac, secret, credentials.WOOCOMMERCE_SECRET, raw, signature)
    body = json_body(raw)
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object")
    delivery = request.headers.get("x-wc-webhook-delivery-id") or ""
    from chalicelib.webhooks import woocommerce

    events = parsed("WooCommerce", woocommerce.parse, topic, body, delivery, datetime.now(UTC))
    if events is None:
        return ignored(woocommerce.SOURCE, topic)
    site = request.headers.get("x-wc-webhook-source") or "site"
    return save(events, f"woocommerce:{site}", woocommerce.SOURCE)


@blueprint.route("/webhooks/shop/{source}", methods=["POST"], content_types=JSON)
@json_errors
def generic_shop_webhook(source: str) -> Response:
    request = blueprint.current_request
    raw = raw_body(request)
    secret = credentials.shop(wiring.storage(), source)
    signature = request.headers.get(SHOP_SIGNATURE.lower()) or ""
    verified(verify_hex_hmac, secret, credentials.shop_setting(source), raw, signature)
    from chalicelib.webhooks import generic_shop  # pydantic: only this route pays its import

    try:
        events = parsed("shop", generic_shop.parse, json_body(raw), datetime.now(UTC))
    except generic_shop.FormatError as error:
        raise ApiError(400, str(error)) from error
    return save(events, f"shop:{source}", f"shop:{source}")
