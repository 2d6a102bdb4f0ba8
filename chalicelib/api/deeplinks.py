"""POST /v1/deeplink: the site asks for a signed deep link for its visitor, so a "Get the guide
in Telegram" button opens the bot with a token that links the chat to this visitor's contact.

Authenticated like ingestion (the write key, CORS per key's origins); the body names the
snippet's anonymous id. Answers {"token", "expires_at", "links": {"telegram", "messenger"}}
with the links of the configured bots (TELEGRAM_BOT_USERNAME, META_PAGE_USERNAME).
"""

from __future__ import annotations

from datetime import UTC, datetime

from chalice.app import Blueprint, Response

from chalicelib import wiring
from chalicelib.api.errors import ApiError, json_response
from chalicelib.config import WriteKey
from chalicelib.ingest import cors
from chalicelib.ingest.http import decode_body, write_key_of

# The tokens load in the route, not at every cold start of the API.
blueprint = Blueprint(__name__)
MAX_BODY = 4 * 1024
META_PAGE_USERNAME = "META_PAGE_USERNAME"


@blueprint.route(
    "/v1/deeplink", methods=["POST", "OPTIONS"], content_types=["application/json", "text/plain"]
)
def deeplink() -> Response:
    from chalicelib.tracking.tokens import TokenError
    from chalicelib.webhooks import credentials, deeplinks

    request = blueprint.current_request
    settings = wiring.storage()
    origin = request.headers.get("origin")
    if request.method == "OPTIONS":
        return Response(body="", status_code=204, headers=cors.preflight_headers(settings, origin))
    write_key: WriteKey | None = None
    try:
        body = decode_body(request.raw_body or b"", request.headers, MAX_BODY)
        write_key = write_key_of(request.headers, body, settings)
        anonymous_id = body.get("anonymousId")
        if not isinstance(anonymous_id, str) or not anonymous_id.strip():
            raise ApiError(400, "anonymousId is required", field="anonymousId")
        bot = credentials.telegram_username(settings)
        page = (settings.providers.get(META_PAGE_USERNAME) or "").strip()
        if not settings.signing_secret or not (bot or page):
            raise ApiError(
                503,
                "deep links need AUTOFUNNEL_SIGNING_SECRET and TELEGRAM_BOT_USERNAME "
                f"or {META_PAGE_USERNAME}",
            )
        try:
            token, expires = deeplinks.make(
                settings.signing_secret, anonymous_id.strip(), datetime.now(UTC)
            )
        except TokenError as error:
            raise ApiError(400, str(error), field="anonymousId") from error
    except ApiError as error:
        return error.response(cors.response_headers(write_key, origin))
    links = {}
    if bot:
        links["telegram"] = deeplinks.telegram_url(bot, token)
    if page:
        links["messenger"] = deeplinks.messenger_url(page, token)
    return json_response(
        {"token": token, "expires_at": expires.isoformat(), "links": links},
        200,
        cors.response_headers(write_key, origin),
    )
