"""Admin API (bearer token): look at a step's message before anyone gets it, and send it to
yourself.

POST /admin/preview     {"funnel": name | "source": yaml, "step"?: id (default: the first send
                         step), "contact"?: email or id,
                         "channel"?: one of the step's}
                        -> the step rendered per channel for that contact (or the funnel's
                           sample): email subject/preheader/html/text, SMS encoding and
                           segments, chat buttons, on-site body; and the funnel's send steps
POST /admin/test-sends  the same, plus "to": an address -> sent through the channel's real
                        provider, marked as a test (in no figure, on nobody's timeline)
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import wiring
from chalicelib.api.auth import require_admin
from chalicelib.api.errors import ApiError, json_errors, json_response

blueprint = Blueprint(__name__)
MAX_SOURCE = 256 * 1024


@blueprint.route("/admin/preview", methods=["POST"])
@json_errors
def preview():  # type: ignore[no-untyped-def]
    from chalicelib.runtime import preview as previews

    body = _body()
    funnel, step, contact, event, who = _subject(body)
    try:
        rendered = previews.render(funnel, step, contact, event, _preview_links(), _channel(body))
    except previews.NotASend as error:
        raise ApiError(400, str(error), field="step") from error
    return json_response(
        {**rendered.to_dict(), "contact": who, "steps": previews.send_steps(funnel)}
    )


@blueprint.route("/admin/test-sends", methods=["POST"])
@json_errors
def test_send():  # type: ignore[no-untyped-def]
    from chalicelib.channels.registry import channels_for
    from chalicelib.runtime import preview as previews
    from chalicelib.runtime import test_send as sending

    body = _body()
    to = body.get("to")
    if not isinstance(to, str) or not to.strip():
        raise ApiError(400, "give `to`: the address to send the test to", field="to")
    funnel, step, contact, event, _ = _subject(body)
    step_row = funnel.step_map.get(step)
    channel = _channel(body) or (step_row.channels[0] if hasattr(step_row, "channels") else "")
    settings = wiring.storage()
    try:
        sent = sending.send_test(
            settings,
            channels_for(settings),
            funnel,
            step,
            contact,
            event,
            channel,
            to,
            wiring.clock()(),
        )
    except previews.NotASend as error:
        raise ApiError(400, str(error), field="step") from error
    except sending.BadAddress as error:
        raise ApiError(400, str(error), field="to") from error
    except sending.SendFailed as error:
        raise ApiError(502, str(error)) from error
    return json_response(
        {
            "message_id": sent.message_id,
            "channel": sent.channel,
            "to": sent.address,
            "via": sent.via,
            "provider_id": sent.provider_id,
            "test": True,
        },
        201,
    )


def _body() -> dict[str, Any]:
    request = blueprint.current_request
    require_admin(request)
    wiring.storage()
    if len(request.raw_body or b"") > MAX_SOURCE:
        raise ApiError(413, f"the request is larger than {MAX_SOURCE // 1024} KB")
    try:
        body = request.json_body
    except Exception as error:  # Chalice raises BadRequestError on invalid JSON
        raise ApiError(400, "the body must be JSON") from error
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _channel(body: dict[str, Any]) -> str | None:
    channel = body.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise ApiError(400, "channel must be a channel name", field="channel")
    return channel


def _subject(body: dict[str, Any]) -> tuple[Any, str, Any, dict[str, Any], Any]:
    """(funnel, step id, contact view, trigger event properties, who) of a preview request."""
    from chalicelib.core.problems import FunnelValidationError
    from chalicelib.core.validate import parse_funnel

    step = body.get("step")
    if step is not None and (not isinstance(step, str) or not step):
        raise ApiError(400, "`step` is the id of a send step", field="step")
    if isinstance(body.get("source"), str):
        try:
            funnel = parse_funnel(body["source"], "preview.yaml")
        except FunnelValidationError as invalid:
            raise ApiError(
                422, "the funnel is invalid", problems=[p._asdict() for p in invalid.problems]
            ) from invalid
    elif isinstance(body.get("funnel"), str):
        funnel = _published(body["funnel"])
    else:
        raise ApiError(400, "give `funnel` (a published funnel's name) or `source`", field="funnel")
    if step is None:  # the first send step (a dashboard choosing a funnel first)
        from chalicelib.runtime.preview import send_steps

        first = send_steps(funnel)
        if not first:
            raise ApiError(400, "the funnel has no send step", field="funnel")
        step = first[0]["id"]
    wanted = body.get("contact")
    if wanted is None or wanted == "":
        contact, who = _sample(funnel), "sample"
        event = dict(funnel.sample.event) if funnel.sample else {}
        return funnel, step, contact, event, who
    if not isinstance(wanted, str):
        raise ApiError(400, "contact is an email or a contact id", field="contact")
    contact, who = _real(wanted)
    return funnel, step, contact, _trigger_event(funnel, contact), who


def _published(name: str) -> Any:
    from chalicelib.runtime.funnel_store import UnknownFunnel

    store = wiring.funnel_store()
    head = next((h for h in store.heads() if h.name == name), None)
    if head is None or not head.latest_version:
        raise ApiError(404, f"no funnel named {name!r}", field="funnel")
    try:
        return store.version(name, int(head.latest_version))
    except UnknownFunnel as missing:
        raise ApiError(404, f"no funnel named {name!r}", field="funnel") from missing


def _sample(funnel: Any) -> Any:
    from chalicelib.core import templates
    from chalicelib.core.state import ContactView

    attributes = {**templates.SAMPLE_CONTACT, **(funnel.sample.contact if funnel.sample else {})}
    figures = {k: v for k, v in templates.SAMPLE_FIGURES.items() if k not in attributes}
    return ContactView("sample-contact", attributes=attributes, figures=figures)


def _real(wanted: str) -> tuple[Any, dict[str, Any]]:
    from chalicelib.identity import store
    from chalicelib.identity.keys import InvalidIdentity, identity_key
    from chalicelib.runtime.contacts import load_snapshot
    from chalicelib.storage import contacts

    contact_id: str | None = wanted
    if "@" in wanted:
        try:
            contact_id = store.owner(identity_key("email", wanted))
        except InvalidIdentity as error:
            raise ApiError(400, str(error), field="contact") from error
    found = contacts.resolve(contact_id) if contact_id else None
    if found is None:
        raise ApiError(404, f"no contact {wanted!r}", field="contact")
    view = load_snapshot(found.contact_id, wiring.clock()()).view
    return view, {"contact_id": found.contact_id, "looked_up": wanted}


def _trigger_event(funnel: Any, contact: Any) -> dict[str, Any]:
    """The properties of the contact's newest event of the kind that starts the funnel (what
    `event.*` would hold), else the funnel's sample event."""
    name = funnel.trigger.event
    for past in reversed(contact.events):
        if past[0] == name:
            return dict(past[1])
    return dict(funnel.sample.event) if funnel.sample else {}


def _preview_links() -> dict[str, str]:
    from chalicelib.core import templates

    settings = wiring.storage()
    base = settings.public_url or "https://autofunnel.example"
    return {
        **templates.SAMPLE_LINKS,
        "unsubscribe": f"{base}/u/preview",
        "preferences": f"{base}/p/preview",
        "view_online": f"{base}/v/preview",
        "site": settings.site_url or templates.SAMPLE_LINKS["site"],
    }
