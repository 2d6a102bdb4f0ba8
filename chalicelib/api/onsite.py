"""POST /v1/onsite: the snippet asks for its visitor's on-site messages (on page load, a moment
after its events were accepted, and every half minute while the page is open) and reports what
the visitor did with those it showed (chalicelib/onsite/poll.py).

Authenticated like ingestion (the public write key, CORS per the key's origins); the visitor is
the anonymous id together with the snippet's device key (chalicelib/onsite/visitors.py). A
`text/plain` POST is a simple CORS request: no preflight round trip.
"""

from __future__ import annotations

from chalice.app import Blueprint, Response
from pynamodb.exceptions import PynamoDBException

from chalicelib import wiring
from chalicelib.api.errors import ApiError, json_response
from chalicelib.config import WriteKey
from chalicelib.eventlog.append import receive
from chalicelib.ingest import cors
from chalicelib.ingest.http import decode_body, write_key_of

blueprint = Blueprint(__name__)
MAX_BODY = 8 * 1024
NO_STORE = {"Cache-Control": "no-store"}


@blueprint.route(
    "/v1/onsite", methods=["POST", "OPTIONS"], content_types=["application/json", "text/plain"]
)
def onsite() -> Response:
    from chalicelib.onsite import poll  # loaded by the route that uses it: not every cold start

    request = blueprint.current_request
    settings = wiring.storage()
    origin = request.headers.get("origin")
    if request.method == "OPTIONS":
        return Response(body="", status_code=204, headers=cors.preflight_headers(settings, origin))
    write_key: WriteKey | None = None
    try:
        body = decode_body(request.raw_body or b"", request.headers, MAX_BODY)
        write_key = write_key_of(request.headers, body, settings)
        try:
            asked = poll.read(body)
        except poll.BadPoll as bad:
            raise ApiError(400, str(bad), field=bad.field) from bad
        now = wiring.clock()()
        answer = poll.answer(asked, now)
        if answer.statuses:  # the worker records them and tells the funnels
            receive(answer.statuses, now)
    except ApiError as error:
        return error.response({**NO_STORE, **cors.response_headers(write_key, origin)})
    except PynamoDBException:
        return json_response(
            {"error": "storage is unavailable, retry later"},
            503,
            {"Retry-After": "5", **NO_STORE, **cors.response_headers(write_key, origin)},
        )
    return json_response(answer.body, 200, {**NO_STORE, **cors.response_headers(write_key, origin)})
