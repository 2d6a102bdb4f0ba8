"""Admin API (bearer token): saved segments and the analytics jobs.

GET    /admin/segments                 the definitions with their member counts
PUT    /admin/segments/{name}          {"condition": {...}, "description": "..."}: save, then
                                       evaluate every contact (the backfill)
DELETE /admin/segments/{name}
POST   /admin/jobs/rfm                 run the RFM scoring now (it also runs daily)
POST   /admin/jobs/segments            run the due segment rechecks now (every 15 minutes)
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import wiring
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
    from chalicelib.analytics import counters, keys, segment_store, segments
    from chalicelib.core.segments import InvalidSegment, parse_segment

    _admin()
    body: Any = blueprint.current_request.json_body
    try:
        definition = parse_segment(name, body)
    except InvalidSegment as error:
        raise ApiError(422, f"invalid segment: {error}", field="condition") from error
    now = wiring.clock()()
    created = segment_store.save(definition, body["condition"], now)
    evaluated = segments.backfill(now)
    members = counters.read(keys.segment_scope(name)).get("members", 0)
    return json_response(
        {"name": name, "created": created, "evaluated": evaluated, "members": members},
        201 if created else 200,
    )


@blueprint.route("/admin/segments/{name}", methods=["DELETE"])
@json_errors
def delete_segment(name: str):  # type: ignore[no-untyped-def]
    from chalicelib.analytics import segment_store, segments

    _admin()
    if not segment_store.delete(name):
        raise ApiError(404, f"no segment {name!r}", field="name")
    segments.forget_segment(name)
    return json_response({"deleted": name})


@blueprint.route("/admin/jobs/rfm", methods=["POST"])
@json_errors
def run_rfm():  # type: ignore[no-untyped-def]
    from chalicelib.analytics import rfm

    _admin()
    result = rfm.run(wiring.clock()())
    return json_response({"buyers": result.buyers, "changed": result.changed})


@blueprint.route("/admin/jobs/segments", methods=["POST"])
@json_errors
def run_rechecks():  # type: ignore[no-untyped-def]
    from chalicelib.analytics import segments

    _admin()
    return json_response({"rechecked": segments.recheck_due(wiring.clock()())})
