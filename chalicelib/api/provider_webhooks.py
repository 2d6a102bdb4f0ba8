"""Provider callbacks: SendGrid's signed event webhook and Twilio's status and inbound webhooks.

Each verifies its signature before anything is stored, answers 503 when its key is not
configured (fail closed; the provider retries later) and 403 on a bad signature, then appends
what came in to the event log (deduplicated on the provider's ids) and answers; the worker
applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chalice.app import Blueprint, Request, Response
from pynamodb.exceptions import PynamoDBException

from chalicelib import wiring
from chalicelib.api.errors import ApiError, json_errors, json_response, storage_unavailable
from chalicelib.eventlog.append import Appended, receive
from chalicelib.eventlog.entry import Entry
from chalicelib.ingest import limits
from chalicelib.storage.errors import ConflictError
from chalicelib.tracking import sendgrid_events
from chalicelib.tracking.provider_auth import (
    BadSignature,
    FormParams,
    WebhookNotConfigured,
    parse_form,
    request_urls,
    verify_sendgrid,
    verify_twilio,
)

blueprint = Blueprint(__name__)

FORM = ["application/x-www-form-urlencoded"]


def _raw(request: Request) -> bytes:
    return request.raw_body or b""


def _append(entries: Sequence[Entry]) -> Appended:
    """503 when storage fails: the provider retries, and what was stored stays deduplicated."""
    try:
        return receive(entries, datetime.now(UTC))
    except (PynamoDBException, ConflictError) as error:
        raise storage_unavailable(error) from error


def _verified(check: Any, *args: Any) -> None:
    try:
        check(*args)
    except WebhookNotConfigured as error:
        raise ApiError(503, f"webhook not configured: {error}") from error
    except BadSignature as error:
        raise ApiError(403, f"invalid signature: {error}") from error


@blueprint.route("/webhooks/sendgrid/events", methods=["POST"], content_types=["application/json"])
@json_errors
def sendgrid_webhook() -> Response:
    request = blueprint.current_request
    settings = wiring.storage()
    try:
        raw = _raw(request).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(400, "body is not UTF-8") from error
    _verified(
        verify_sendgrid,
        settings.providers.get("SENDGRID_WEBHOOK_PUBLIC_KEY", ""),
        raw,
        request.headers,
    )
    try:
        events = limits.loads(raw)
    except ValueError as error:
        raise ApiError(400, "body is not JSON") from error
    if not isinstance(events, list):
        raise ApiError(400, "expected a JSON array of events")
    now = datetime.now(UTC)
    entries = [
        found
        for event in events
        if isinstance(event, dict) and (found := sendgrid_events.entry(event, now)) is not None
    ]
    appended = _append(entries)
    return json_response(
        {
            "received": len(events),
            "stored": len(appended.stored),
            "duplicates": len(appended.duplicates),
        }
    )


def _twilio_params(request: Request, route_path: str) -> FormParams:
    settings = wiring.storage()
    params = parse_form(_raw(request))
    urls = request_urls(
        request.headers, request.context, request.query_params, settings.public_url, route_path
    )
    _verified(
        verify_twilio,
        settings.providers.get("TWILIO_AUTH_TOKEN", ""),
        urls,
        params,
        request.headers,
    )
    return params


def _twiml(body: str) -> Response:
    return Response(body=body, status_code=200, headers={"Content-Type": "text/xml"})


@blueprint.route("/webhooks/twilio/status", methods=["POST"], content_types=FORM)
@json_errors
def twilio_status() -> Response:
    from chalicelib.tracking import twilio_events  # loaded by Twilio's routes only

    request = blueprint.current_request
    params = _twilio_params(request, "/webhooks/twilio/status")
    entry = twilio_events.status_entry(
        params, (request.query_params or {}).get("m"), datetime.now(UTC)
    )
    if entry is not None:
        _append([entry])
    return _twiml(twilio_events.EMPTY_TWIML)


@blueprint.route("/webhooks/twilio/inbound", methods=["POST"], content_types=FORM)
@json_errors
def twilio_inbound() -> Response:
    from chalicelib.tracking import twilio_events  # loaded by Twilio's routes only

    params = _twilio_params(blueprint.current_request, "/webhooks/twilio/inbound")
    help_text = wiring.storage().providers.get("TWILIO_HELP_TEXT") or twilio_events.DEFAULT_HELP
    entries, answer = twilio_events.inbound(params, datetime.now(UTC), help_text)
    _append(entries)
    return _twiml(answer)
