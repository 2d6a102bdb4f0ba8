"""Admin API (bearer token): broadcasts, one-off campaigns to a saved segment.

GET  /admin/broadcasts                    every broadcast, newest start first: status, progress,
                                          counts (members, sent, held, skipped, failed ...)
PUT  /admin/broadcasts/{name}             JSON or YAML: {segment, channel(s) + content | funnel,
                                          at?, topic?, pace?, policy?, goal?, sample?}: saved,
                                          its send queued (at `at`, or at once): 202, Location
                                          the broadcast; 200 when unchanged; 422 `problems`
                                          naming each field; 409 once it has started
GET  /admin/broadcasts/{name}             one broadcast, its job's progress and its stats as a
                                          funnel step's (delivered, opened, clicked ...)
POST /admin/broadcasts/{name}/dry-run     what it would do now, counted per channel (body: a
                                          definition to try, or none for the saved one): 202
                                          with the job (GET /admin/jobs/{id}); writes nothing
POST /admin/broadcasts/{name}/cancel      stop it: no page after the current one, and sends
                                          held for quiet hours or caps are dropped
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import jobs, wiring
from chalicelib.api.auth import require_admin
from chalicelib.api.errors import ApiError, json_errors, json_response

blueprint = Blueprint(__name__)
BODY_TYPES = ["application/json", "application/yaml", "application/x-yaml", "text/yaml"]
MAX_BODY = 256 * 1024
MAX_NAME = 48


def _admin() -> None:
    require_admin(blueprint.current_request)
    wiring.storage()


@blueprint.route("/admin/broadcasts", methods=["GET"])
@json_errors
def list_broadcasts():  # type: ignore[no-untyped-def]
    _admin()
    return json_response({"broadcasts": jobs.broadcasts().list()})


@blueprint.route("/admin/broadcasts/{name}", methods=["PUT"], content_types=BODY_TYPES)
@json_errors
def save_broadcast(name: str):  # type: ignore[no-untyped-def]
    from chalicelib.core.broadcast import InvalidBroadcast
    from chalicelib.runtime.broadcasts import BroadcastConflict

    _admin()
    data = _definition(required=True)
    try:
        view, outcome = jobs.broadcasts().save(name, data)
    except InvalidBroadcast as invalid:
        raise ApiError(422, "the broadcast is invalid", problems=_problems(invalid)) from invalid
    except BroadcastConflict as conflict:
        raise ApiError(409, str(conflict), field="name") from conflict
    body = {**view, "outcome": outcome}
    warning = _backfill_warning(view["segment"])
    if warning:
        body["warnings"] = [warning]
    if outcome == "unchanged":
        return json_response(body)
    return json_response(body, 202, {"Location": f"/admin/broadcasts/{name}"})


@blueprint.route("/admin/broadcasts/{name}", methods=["GET"])
@json_errors
def get_broadcast(name: str):  # type: ignore[no-untyped-def]
    from chalicelib.runtime.broadcasts import UnknownBroadcast

    _admin()
    try:
        return json_response(jobs.broadcasts().get(_name(name)))
    except UnknownBroadcast as missing:
        raise ApiError(404, f"no broadcast {name!r}", field="name") from missing


@blueprint.route("/admin/broadcasts/{name}/dry-run", methods=["POST"], content_types=BODY_TYPES)
@json_errors
def dry_run(name: str):  # type: ignore[no-untyped-def]
    from chalicelib.core.broadcast import InvalidBroadcast
    from chalicelib.runtime.broadcasts import UnknownBroadcast

    _admin()
    data = _definition(required=False)
    try:
        job = jobs.broadcasts().dry_run(_name(name), data)
    except InvalidBroadcast as invalid:
        raise ApiError(422, "the broadcast is invalid", problems=_problems(invalid)) from invalid
    except UnknownBroadcast as missing:
        raise ApiError(
            404, f"no broadcast {name!r}: send its definition to try it", field="name"
        ) from missing
    return json_response(job, 202, {"Location": job["status_url"]})


@blueprint.route("/admin/broadcasts/{name}/cancel", methods=["POST"])
@json_errors
def cancel_broadcast(name: str):  # type: ignore[no-untyped-def]
    from chalicelib.runtime.broadcasts import BroadcastConflict, UnknownBroadcast

    _admin()
    try:
        return json_response(jobs.broadcasts().cancel(_name(name)))
    except UnknownBroadcast as missing:
        raise ApiError(404, f"no broadcast {name!r}", field="name") from missing
    except BroadcastConflict as conflict:
        raise ApiError(409, str(conflict), field="name") from conflict


def _name(name: str) -> str:
    if len(name) > MAX_NAME:
        raise ApiError(404, "no broadcast by that name", field="name")
    return name


def _definition(required: bool) -> Any:
    """The body as JSON or YAML (YAML is a superset of JSON): None when empty and optional."""
    import yaml

    raw = blueprint.current_request.raw_body or b""
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"a broadcast is at most {MAX_BODY} bytes")
    if not raw.strip():
        if required:
            raise ApiError(400, "send the broadcast: segment, channel and content (or funnel)")
        return None
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise ApiError(400, f"the body is not JSON or YAML: {error}") from error
    if not isinstance(data, dict):
        raise ApiError(400, "a broadcast is an object: segment, channel and content (or funnel)")
    return data


def _problems(invalid: Any) -> list[dict[str, str]]:
    return [{"field": field, "message": message} for field, message in invalid.problems]


def _backfill_warning(segment: str) -> str | None:
    """A segment saved moments ago is still being evaluated for everyone (a backfill
    evaluates every saved segment)."""
    for job in jobs.paged_jobs().store.active(jobs.SEGMENT_BACKFILL):
        return (
            f"saved segments are still being evaluated (job {job.job_id}): a broadcast "
            f"sent before it ends reaches the members of {segment!r} found so far"
        )
    return None
