"""Pages people open from our messages: their preferences (`links.preferences`) and the message
itself in a browser (`links.view_online`).

GET  /p/{token}   the channels the person has an address on and the topics funnels send about,
                  each with a switch (GET changes nothing: mail scanners prefetch links)
POST /p/{token}   save the switches (a form post from that page): each change a consent entry
                  of the event log, which the worker records
GET  /v/{token}   the message as it was sent (an email's HTML; its text otherwise), with no
                  script allowed to run
"""

from __future__ import annotations

import html
import logging
from urllib.parse import parse_qs

from chalice.app import Blueprint, Response

from chalicelib import wiring
from chalicelib.api.pages import not_found, page
from chalicelib.eventlog.append import receive
from chalicelib.storage.models import Message

# The page tokens load in the routes that use them, not at every cold start of the API.
log = logging.getLogger(__name__)
blueprint = Blueprint(__name__)
FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
MAX_FORM = 16 * 1024
# A sent email as its own page: its styles and images, never a script, a form or a frame.
VIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; font-src https: data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _topics() -> list[str]:
    return [f.topic for f in wiring.funnel_store().index().funnels if f.topic]


@blueprint.route("/p/{token}", methods=["GET"])
def preferences_page(token: str) -> Response:
    from chalicelib.tracking import page_links

    settings = wiring.storage()
    try:
        found = page_links.read_preferences_token(settings.signing_secret, token)
    except page_links.TokenError:
        return not_found()
    return _form(found.contact_id, "")


@blueprint.route("/p/{token}", methods=["POST"], content_types=FORM_TYPES)
def save_preferences(token: str) -> Response:
    from chalicelib.tracking import page_links

    settings = wiring.storage()
    try:
        found = page_links.read_preferences_token(settings.signing_secret, token)
    except page_links.TokenError:
        return not_found()
    raw = blueprint.current_request.raw_body or b""
    if len(raw) > MAX_FORM:
        return page(413, "Too much", "<p>That form is larger than this page sends.</p>")
    form = parse_qs(raw.decode("utf-8", errors="replace"))
    if form.get("save") != ["1"]:
        return page(400, "Not saved", "<p>Use the form on the preferences page.</p>")
    now = wiring.clock()()
    try:
        channel = str(Message.get(found.message_id).channel)
    except Message.DoesNotExist:  # expired: the choices still count
        channel = ""
    from chalicelib.tracking import preferences  # loaded by the routes that use it

    entries = preferences.changes(
        found.contact_id, (found.message_id, channel), set(form.get("on", [])), _topics(), now
    )
    try:
        receive(entries, now)  # the worker records each choice (and funnels hear of it)
    except Exception:  # the person must see that it did not work, and try again
        log.exception("storing the preferences of %s failed", found.contact_id)
        return page(503, "Please try again", "<p>We could not record that right now.</p>")
    note = "Saved." if entries else "Nothing changed."
    chosen = {str(entry.properties["channel"]): "un" not in entry.name for entry in entries}
    return _form(found.contact_id, f'<p class="saved" role="status">{note}</p>', chosen)


def _form(contact_id: str, note: str, chosen: dict[str, bool] | None = None) -> Response:
    """The form, as stored, or as just chosen (`chosen`: recorded by the worker shortly)."""
    from chalicelib.tracking import preferences  # loaded by the routes that use it

    chosen = chosen or {}
    rows = "".join(
        f'<p><label><input type="checkbox" name="on" value="{html.escape(choice.key)}"'
        f"{' checked' if chosen.get(choice.key, choice.enabled) else ''}>"
        f" {html.escape(choice.label)}</label></p>"
        for choice in preferences.choices(contact_id, _topics())
    )
    if not rows:
        return page(200, "Your preferences", "<p>We have no way to reach you: nothing to set.</p>")
    return page(
        200,
        "Your preferences",
        f"{note}<p>Choose what you get from us. Switch everything off to hear nothing more.</p>"
        f'<form method="post"><input type="hidden" name="save" value="1">{rows}'
        '<button type="submit">Save</button></form>',
    )


@blueprint.route("/v/{token}", methods=["GET"])
def view_online(token: str) -> Response:
    from chalicelib.storage.messages import content_of
    from chalicelib.tracking import page_links

    settings = wiring.storage()
    try:
        message_id = page_links.read_view_token(settings.signing_secret, token)
        message = Message.get(message_id)
    except (page_links.TokenError, Message.DoesNotExist):
        return not_found()
    content = content_of(message)
    if isinstance(content.get("html"), str):
        body = content["html"]
    else:
        title = html.escape(str(content.get("subject") or content.get("title") or "Message"))
        text = html.escape(str(content.get("text") or ""))
        body = (
            f'<!doctype html><meta charset="utf-8"><title>{title}</title>'
            f'<pre style="white-space:pre-wrap;font:16px/1.5 system-ui">{text}</pre>'
        )
    return Response(
        body=body,
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": VIEW_POLICY,
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex",
        },
    )
