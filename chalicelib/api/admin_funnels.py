"""Admin API (bearer token): funnels, enrollment by API, and the outbox."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import wiring
from chalicelib.api.auth import require_admin
from chalicelib.api.errors import ApiError, json_errors, json_response
from chalicelib.storage.errors import ConflictError

# The funnel store, the validator and the outbox's views load in the routes that use them, not
# at every cold start of the API (tests/unit/test_cold_start_imports.py).
blueprint = Blueprint(__name__)

YAML_TYPES = ["application/yaml", "application/x-yaml", "text/yaml", "text/plain"]
STATE_CHANGES = ("pause", "resume", "archive")
MAX_FUNNEL_BYTES = 256 * 1024
BROADCAST_PREFIX = "broadcast-"  # chalicelib.core.broadcast.PREFIX: their funnels are theirs


@blueprint.route("/admin/funnels/{name}", methods=["PUT"], content_types=YAML_TYPES)
@json_errors
def publish_funnel(name: str):  # type: ignore[no-untyped-def]
    request = blueprint.current_request
    require_admin(request)
    raw = request.raw_body or b""
    if len(raw) > MAX_FUNNEL_BYTES:
        raise ApiError(413, f"funnel larger than {MAX_FUNNEL_BYTES} bytes")
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(400, "the funnel must be UTF-8 YAML") from error
    if name.startswith(BROADCAST_PREFIX):
        raise ApiError(
            400, f"funnel names starting {BROADCAST_PREFIX!r} belong to broadcasts", field="name"
        )
    from chalicelib.core.problems import FunnelValidationError
    from chalicelib.runtime.funnel_store import WrongName

    store = wiring.funnel_store()
    try:
        published = store.publish(source, f"{name}.yaml", wiring.clock()(), name=name)
    except FunnelValidationError as invalid:
        raise ApiError(
            422,
            "the funnel is invalid",
            problems=[problem._asdict() for problem in invalid.problems],
        ) from invalid
    except ConflictError as conflict:
        raise ApiError(409, "another upload of this funnel won the race; retry") from conflict
    except WrongName as other:
        raise ApiError(
            400, f"the URL names {name!r} but the YAML names {str(other)!r}", field="name"
        ) from other
    body: dict[str, Any] = {
        "name": published.name,
        "version": published.version,
        "created": published.created,
    }
    warnings = _link_warnings(source, f"{name}.yaml")
    if warnings:
        body["warnings"] = warnings
    return json_response(body, 201 if published.created else 200)


def _link_warnings(source: str, filename: str) -> list[dict[str, Any]]:
    """Links the funnel sends untracked (their host is not allowed) and webhook URLs AWS will
    refuse: published anyway, but the author should know."""
    from chalicelib.core.validate import link_warnings, parse_funnel

    funnel = parse_funnel(source, filename)  # valid: it was just published
    hosts = wiring.storage().allowed_link_hosts
    return [problem._asdict() for problem in link_warnings(funnel, source, filename, hosts)]


@blueprint.route("/admin/funnels", methods=["GET"])
@json_errors
def list_funnels():  # type: ignore[no-untyped-def]
    require_admin(blueprint.current_request)
    from chalicelib.runtime.funnel_store import head_summary

    heads = wiring.funnel_store().heads()
    return json_response({"funnels": [head_summary(head) for head in heads]})


@blueprint.route("/admin/funnels/{name}", methods=["GET"])
@json_errors
def get_funnel(name: str):  # type: ignore[no-untyped-def]
    require_admin(blueprint.current_request)
    from chalicelib.runtime.funnel_store import head_summary

    store = wiring.funnel_store()
    head = next((h for h in store.heads() if h.name == name), None)
    if head is None:
        raise ApiError(404, f"no funnel named {name!r}", field="name")
    version = int(head.latest_version or 0)
    return json_response({**head_summary(head), "source": store.source(name, version)})


@blueprint.route("/admin/funnels/{name}/{action}", methods=["POST"])
@json_errors
def change_funnel(name: str, action: str):  # type: ignore[no-untyped-def]
    request = blueprint.current_request
    require_admin(request)
    from chalicelib.runtime.funnel_store import (
        ACTIVE,
        ARCHIVED,
        PAUSED,
        UnknownFunnel,
        head_summary,
    )

    store = wiring.funnel_store()
    if action == "enroll":
        return _enroll(name, request.json_body if request.raw_body else None)
    if action not in STATE_CHANGES:
        raise ApiError(404, f"unknown action {action!r} (pause, resume, archive, enroll)")
    state = {"pause": PAUSED, "resume": ACTIVE, "archive": ARCHIVED}[action]
    try:
        head = store.set_state(name, state)
    except UnknownFunnel as missing:
        raise ApiError(404, f"no funnel named {name!r}", field="name") from missing
    return json_response(head_summary(head))


def _enroll(name: str, body: Any) -> Any:
    from chalicelib.runtime.funnel_store import UnknownFunnel
    from chalicelib.runtime.listening import ContactMerged

    if not isinstance(body, dict) or not isinstance(body.get("contact_id"), str):
        raise ApiError(400, 'send {"contact_id": "..."}', field="contact_id")
    try:
        enrolled = wiring.runtime().enroll(name, body["contact_id"])
    except UnknownFunnel as missing:
        raise ApiError(404, f"no active funnel named {name!r}", field="name") from missing
    except ContactMerged as merged:
        message = f"contact {body['contact_id']!r} was merged into another: enroll that one"
        raise ApiError(409, message, field="contact_id") from merged
    return json_response({"enrolled": enrolled}, 201 if enrolled else 200)


@blueprint.route("/admin/outbox", methods=["GET"])
@json_errors
def outbox():  # type: ignore[no-untyped-def]
    request = blueprint.current_request
    require_admin(request)
    from chalicelib.runtime.views import message_summary
    from chalicelib.storage import messages as messages_store

    wiring.storage()
    params = request.query_params or {}
    try:
        limit = max(1, min(int(params.get("limit", 50)), 500))
    except ValueError as error:
        raise ApiError(400, "limit must be a number", field="limit") from error
    contact_id = params.get("contact_id")
    if contact_id:
        rows = [
            m for m in messages_store.of_contact(contact_id, newest_first=True) if m.via == "outbox"
        ]
    else:
        rows = messages_store.sent_via("outbox", limit)
    messages = [message_summary(m) for m in rows[:limit]]
    return json_response({"messages": messages})
