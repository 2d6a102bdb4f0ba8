"""Admin API (bearer token): paged jobs, their progress, and starting the analytics jobs.

GET  /admin/jobs?kind=&limit=5      the newest `limit` jobs of each kind (or of `kind`), newest
                                    first
GET  /admin/jobs/{id}               one job: status, current pass, progress, counts, error
POST /admin/jobs/{id}/cancel        stop a queued or running job at its next checkpoint
POST /admin/jobs/rfm                202: RFM scoring queued (it also runs daily)
POST /admin/jobs/segments           202: the due saved-segment rechecks (every 15 minutes)

A started job runs in the background (the `job_runner` tick on AWS, the local loop in
`make run`): poll its `status_url`. One job of a kind runs at a time: starting one while another
is open answers 202 with the open one (`"created": false`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice.app import Blueprint

from chalicelib import jobs, wiring
from chalicelib.api.auth import require_admin
from chalicelib.api.errors import ApiError, json_errors, json_response

blueprint = Blueprint(__name__)
MAX_ID_LENGTH = 200
MAX_LIMIT = 100


def _admin() -> None:
    require_admin(blueprint.current_request)
    wiring.storage()


def accepted(job: dict[str, Any], body: dict[str, Any]) -> Any:
    """202 with the job and where to follow it."""
    return json_response(body, 202, {"Location": job["status_url"]})


@blueprint.route("/admin/jobs", methods=["GET"])
@json_errors
def list_jobs():  # type: ignore[no-untyped-def]
    _admin()
    query: Mapping[str, str] = blueprint.current_request.query_params or {}
    limit = _limit(query.get("limit"))
    kind = query.get("kind")
    paged = jobs.paged_jobs()
    if kind is not None and kind not in paged.kinds:
        raise ApiError(400, f"unknown job kind {kind!r}", field="kind", kinds=sorted(paged.kinds))
    if kind:
        from chalicelib.paging.view import describe

        found = [describe(job) for job in paged.store.recent(kind, limit)]
    else:
        found = paged.recent(limit)
    return json_response({"jobs": found})


@blueprint.route("/admin/jobs/{job_id}", methods=["GET"])
@json_errors
def get_job(job_id: str):  # type: ignore[no-untyped-def]
    _admin()
    found = jobs.paged_jobs().get(job_id) if len(job_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise ApiError(404, f"no job {job_id!r}", field="id")
    return json_response(found)


@blueprint.route("/admin/jobs/{job_id}/cancel", methods=["POST"])
@json_errors
def cancel_job(job_id: str):  # type: ignore[no-untyped-def]
    _admin()
    paged = jobs.paged_jobs()
    found = paged.get(job_id) if len(job_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise ApiError(404, f"no job {job_id!r}", field="id")
    if not paged.cancel(job_id):
        raise ApiError(409, f"job {job_id!r} is {found['status']} already", field="id")
    return json_response(paged.get(job_id))


@blueprint.route("/admin/jobs/rfm", methods=["POST"])
@json_errors
def run_rfm():  # type: ignore[no-untyped-def]
    _admin()
    job, created = jobs.start(jobs.RFM)
    return accepted(job, {**job, "created": created})


@blueprint.route("/admin/jobs/segments", methods=["POST"])
@json_errors
def run_rechecks():  # type: ignore[no-untyped-def]
    _admin()
    job, created = jobs.start(jobs.SEGMENT_RECHECKS)
    return accepted(job, {**job, "created": created})


def _limit(raw: str | None) -> int:
    if raw is None:
        return 5
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return limit
