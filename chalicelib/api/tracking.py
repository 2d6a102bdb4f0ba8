"""Links people follow from our messages: click redirects and unsubscribes.

GET /r/{token}: append the click to the event log, 302 to the signed target (a bad token is a
404, never an open redirect; an expired token, or a target whose host is no longer allowed,
answers a page). GET /u/{token}: a confirmation page (link scanners prefetch GETs, so GET
changes nothing). POST /u/{token}: RFC 8058 one-click unsubscribe (also what the page's button
posts), appended to the log; the worker revokes the consent and tells the funnels.
"""

from __future__ import annotations

import html
import logging
import time
import uuid
from datetime import UTC, datetime

from chalice.app import Blueprint, Response

from chalicelib import wiring
from chalicelib.api.pages import not_found, page
from chalicelib.eventlog.append import receive
from chalicelib.eventlog.entry import (
    CONSENT,
    STATUS,
    VERIFIED,
    Entry,
    contact_subject,
    message_subject,
)

# The tokens and the allowed hosts load in the routes that use them, not at every cold start of
# the API (tests/unit/test_cold_start_imports.py).
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
    from chalicelib.tracking.links import host_allowed
    from chalicelib.tracking.tokens import TokenError, TokenExpired, read_click_token

    settings = wiring.storage()
    try:
        target = read_click_token(settings.signing_secret, token, time.time())
    except TokenExpired:
        return _expired(settings.site_url)
    except TokenError:
        return not_found()
    if not host_allowed(target.url, settings.allowed_link_hosts):
        # Signed before the allow-list changed (or the list was emptied): no redirect.
        log.warning("click on %s: host of %r is not allowed", target.message_id, target.url)
        return page(404, "Link not available", "<p>This link does not lead anywhere now.</p>")
    now = datetime.now(UTC)
    click = Entry(
        subject=message_subject(target.message_id),
        event_id=f"click:{uuid.uuid4().hex}",  # every click counts; the first one is "clicked"
        type=STATUS,
        name="clicked",
        timestamp=now,
        properties={"url": target.url, "count_click": True},
        source="click",
        trust=VERIFIED,
    )
    try:
        receive([click], now)
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


def _expired(site_url: str) -> Response:
    visit = (
        f'<p><a href="{html.escape(site_url, quote=True)}">Visit our shop</a> instead.</p>'
        if site_url.startswith(("https://", "http://"))
        else ""
    )
    return page(410, "This link has expired", f"<p>Links in our messages expire.</p>{visit}")


@blueprint.route("/u/{token}", methods=["GET"])
def unsubscribe_page(token: str) -> Response:
    from chalicelib.tracking.tokens import TokenError, read_unsubscribe_token

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
    from chalicelib.tracking.tokens import TokenError, read_unsubscribe_token

    settings = wiring.storage()
    try:
        request = read_unsubscribe_token(settings.signing_secret, token)
    except TokenError:
        return not_found()
    now = datetime.now(UTC)
    opt_out = Entry(
        subject=contact_subject(request.contact_id),
        event_id=f"unsubscribe:{request.message_id}:{request.channel}",
        type=CONSENT,
        name="unsubscribed",
        timestamp=now,
        properties={
            "channel": request.channel,
            "message_id": request.message_id,
            "source": "unsubscribe_link",
        },
        source="unsubscribe_link",
        trust=VERIFIED,
    )
    try:
        receive([opt_out], now)
    except Exception:  # the person must see that it did not work, and try again
        log.exception("storing the unsubscribe of %s failed", request.contact_id)
        return page(503, "Please try again", "<p>We could not record that right now.</p>")
    what = CHANNEL_NAMES.get(request.channel, f"{request.channel} messages")
    return page(
        200, "You are unsubscribed", f"<p>You will not receive {html.escape(what)} from us.</p>"
    )
