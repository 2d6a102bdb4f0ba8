"""Admin API (bearer token): saved segments.

GET    /admin/segments                 the definitions with their member counts
PUT    /admin/segments/{name}          {"condition": {...}, "description": "..."}: save, and
                                       answer 202 with the backfill job that evaluates every
                                       contact (GET /admin/jobs/{id} follows it)
DELETE /admin/segments/{name}
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import jobs, wiring
from chalicelib.api.admin_jobs import accepted
from chalicelib.api.auth import require_admin
from chalicelib.api.errors import ApiError, json_errors, json_response

# Analytics and the condition language are imported by the routes, not at cold start.

blueprint = Blueprint(__name__)


def _admin() -> None:
    require_admin(blueprint.current_request)
    wiring.storage()


@blueprint.route("/admin/segments", methods=["GET"])
@json_errors
def list_segments():  # type: ignore[no-untyped-def]
    from chalicelib.analytics import counters, keys, segment_store

    _admin()
    return json_response(
        {
            "segments": [
                {
                    "name": row.name,
                    "description": row.description,
                    "condition": row.condition,
                    "members": counters.read(keys.segment_scope(row.name)).get("members", 0),
                }
                for row in segment_store.rows()
            ]
        }
    )


@blueprint.route("/admin/segments/{name}", methods=["PUT"])
@json_errors
def save_segment(name: str):  # type: ignore[no-untyped-def]
    from chalicelib.analytics import segment_store
    from chalicelib.core.segments import InvalidSegment, parse_segment

    _admin()
    body: Any = blueprint.current_request.json_body
    try:
        definition = parse_segment(name, body)
    except InvalidSegment as error:
        raise ApiError(422, f"invalid segment: {error}", field="condition") from error
    created = segment_store.save(definition, body["condition"], wiring.clock()())
    # Every saved segment is evaluated for everyone again: a backfill still running with the
    # old definitions is cancelled for one with the new.
    job, _ = jobs.start(jobs.SEGMENT_BACKFILL, {"segment": name}, supersede=True)
    return accepted(job, {"name": name, "created": created, "job": job})


@blueprint.route("/admin/segments/{name}", methods=["DELETE"])
@json_errors
def delete_segment(name: str):  # type: ignore[no-untyped-def]
    from chalicelib.analytics import segment_store, segments

    _admin()
    if not segment_store.delete(name):
        raise ApiError(404, f"no segment {name!r}", field="name")
    segments.forget_segment(name)
    return json_response({"deleted": name})
