"""The Segment-compatible tracking API: POST /v1/{identify,track,page,screen,group,alias,batch}.

Existing Segment and RudderStack clients point their host here unchanged, with a site's public
write key (its calls are claims, unless an identity hash proves who is signed in) or a secret
server key (chalicelib.ingest.verification). Each valid call is appended to the event log once
(its messageId, per site), carrying how much it proves; the stream worker does the rest.
Answers: 200
{"success": true, ...} (a batch also lists per-call `errors`; the valid calls are stored),
400 naming the bad field, 401 for a missing or unknown key, 413 past Segment's size limits,
503 when storage is unavailable (clients retry; stored calls are deduplicated on messageId).
A limit that needs the contact (its trait cap) is the worker's to apply: the traits that do not
fit are refused there, and the contact's timeline shows a `traits_refused` event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice.app import Blueprint, Response
from pynamodb.exceptions import PynamoDBException

from chalicelib import wiring
from chalicelib.api.errors import (
    RETRY_AFTER_SECONDS,
    ApiError,
    json_response,
    storage_unavailable,
)
from chalicelib.config import WriteKey
from chalicelib.eventlog.append import receive
from chalicelib.ingest import cors, limits
from chalicelib.ingest.entries import call_entry
from chalicelib.ingest.http import decode_body, ingest_key_of
from chalicelib.ingest.spec import MAX_BATCH_BYTES, MAX_CALL_BYTES, Call, CallError, parse_call
from chalicelib.ingest.verification import with_trust
from chalicelib.storage.errors import ConflictError

blueprint = Blueprint(__name__)
# sendBeacon posts text/plain (no CORS preflight); gzip bodies keep their JSON content type.
CONTENT_TYPES = ["application/json", "text/plain"]
# analytics.js (analytics-next) posts to the one-letter paths.
SHORT_PATHS = {
    "i": "identify",
    "t": "track",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}


def _handle(call_type: str | None) -> Response:
    request = blueprint.current_request
    settings = wiring.storage()
    origin = request.headers.get("origin")
    if request.method == "OPTIONS":
        return Response(body="", status_code=204, headers=cors.preflight_headers(settings, origin))
    write_key: WriteKey | None = None
    try:
        limit = MAX_BATCH_BYTES if call_type is None else MAX_CALL_BYTES
        body = decode_body(request.raw_body or b"", request.headers, limit)
        key = ingest_key_of(request.headers, body, settings)
        write_key = key.write_key
        now = datetime.now(UTC)
        parsed, errors = _parse(body, call_type, now)
        calls = [with_trust(call, key.server, settings.identity_secret) for call in parsed]
        namespace = f"segment:{key.key}"
        entries = [call_entry(c, namespace, phone_region=settings.phone_region) for c in calls]
        appended = receive(entries, now)
    except ApiError as error:
        return error.response(cors.response_headers(write_key, origin))
    except (PynamoDBException, ConflictError) as error:
        return storage_unavailable(error).response(
            {"Retry-After": str(RETRY_AFTER_SECONDS), **cors.response_headers(write_key, origin)}
        )
    result: dict[str, Any] = {
        "success": True,
        "stored": len(appended.stored),
        "duplicates": len(appended.duplicates),
    }
    if errors:
        result["errors"] = errors
    return json_response(result, 200, cors.response_headers(write_key, origin))


def _parse(
    body: dict[str, Any], call_type: str | None, now: datetime
) -> tuple[list[Call], list[dict[str, Any]]]:
    if call_type is not None:
        try:
            return [parse_call(body, now, call_type)], []
        except CallError as error:
            limit = {"limit": error.limit.name} if error.limit else {}
            status = error.limit.status if error.limit else 400
            raise ApiError(status, error.message, field=error.field, **limit) from error
    raw_calls = body.get("batch")
    if not isinstance(raw_calls, list):
        raise ApiError(400, "batch must be an array of calls", field="batch")
    if len(raw_calls) > limits.MAX_BATCH_CALLS:
        raise ApiError(
            limits.BATCH_CALLS.status,
            f"the batch has {len(raw_calls)} calls; the limit is {limits.MAX_BATCH_CALLS}",
            field="batch",
            limit=limits.BATCH_CALLS.name,
            max=limits.MAX_BATCH_CALLS,
        )
    defaults = {name: body[name] for name in ("sentAt", "context") if name in body}
    calls, errors = [], []
    for index, raw in enumerate(raw_calls):
        try:
            calls.append(parse_call(raw, now, batch_defaults=defaults))
        except CallError as error:
            field = f"batch[{index}]" + (f".{error.field}" if error.field else "")
            entry = {"index": index, "field": field, "error": error.message}
            errors.append(entry | ({"limit": error.limit.name} if error.limit else {}))
    if errors and not calls:
        raise ApiError(400, "no valid call in the batch", field="batch", errors=errors)
    return calls, errors


def _route(path: str, call_type: str | None) -> None:
    def view() -> Response:
        return _handle(call_type)

    view.__name__ = f"ingest_{path.replace('/', '_').strip('_')}"
    blueprint.route(path, methods=["POST", "OPTIONS"], content_types=CONTENT_TYPES)(view)


for _type in ("identify", "track", "page", "screen", "group", "alias"):
    _route(f"/v1/{_type}", _type)
for _short, _type in SHORT_PATHS.items():
    _route(f"/v1/{_short}", _type)
_route("/v1/batch", None)
_route("/v1/b", None)
