"""Links people follow from our messages: click redirects and unsubscribes.

GET /r/{token}: record the click, 302 to the signed target (a bad token is a 404, never an open
redirect). GET /u/{token}: a confirmation page (link scanners prefetch GETs, so GET changes
nothing). POST /u/{token}: RFC 8058 one-click unsubscribe, also what the page's button posts.
"""

from __future__ import annotations

import html
import logging

from chalice.app import Blueprint, Response

from chalicelib import wiring
from chalicelib.api.pages import not_found, page
from chalicelib.tracking import consent, message_status
from chalicelib.tracking.tokens import TokenError, read_click_token, read_unsubscribe_token

blueprint = Blueprint(__name__)
log = logging.getLogger(__name__)

CHANNEL_NAMES = {"email": "emails", "sms": "text messages", "whatsapp": "WhatsApp messages"}
FORM_TYPES = [
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
    "application/json",
]


@blueprint.route("/r/{token}", methods=["GET"])
def click(token: str) -> Response:
    settings = wiring.storage()
    try:
        target = read_click_token(settings.signing_secret, token)
    except TokenError:
        return not_found()
    try:
        message = message_status.find(target.message_id)
        if message is not None:
            message_status.count(message.message_id, "clicks")  # every click
            message_status.record(message, "clicked", details={"url": target.url})  # the first
    except Exception:  # the person gets their page even when recording fails
        log.exception("recording a click on %s failed", target.message_id)
    return Response(
        body="",
        status_code=302,
        headers={
            "Location": target.url,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


@blueprint.route("/u/{token}", methods=["GET"])
def unsubscribe_page(token: str) -> Response:
    settings = wiring.storage()
    try:
        request = read_unsubscribe_token(settings.signing_secret, token)
    except TokenError:
        return not_found()
    what = CHANNEL_NAMES.get(request.channel, f"{request.channel} messages")
    return page(
        200,
        "Unsubscribe",
        f"<p>Stop receiving {html.escape(what)} from us?</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
    )


@blueprint.route("/u/{token}", methods=["POST"], content_types=FORM_TYPES)
def unsubscribe(token: str) -> Response:
    settings = wiring.storage()
    try:
        request = read_unsubscribe_token(settings.signing_secret, token)
    except TokenError:
        return not_found()
    consent.revoke(
        request.contact_id,
        request.channel,
        source="unsubscribe_link",
        event_id=f"unsubscribe:{request.message_id}:{request.channel}",
        properties={"message_id": request.message_id},
    )
    message = message_status.find(request.message_id)
    if message is not None:
        message_status.record(message, "unsubscribed", details={"source": "unsubscribe_link"})
    what = CHANNEL_NAMES.get(request.channel, f"{request.channel} messages")
    return page(
        200, "You are unsubscribed", f"<p>You will not receive {html.escape(what)} from us.</p>"
    )
