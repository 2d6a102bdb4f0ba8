"""Admin API (bearer token): the analytics figures, read from counters (never from events).

GET /admin/stats/funnels                    every funnel: entered, conversion, revenue
GET /admin/stats/funnels/{name}?version=N   steps, splits with lift and significance, graph
GET /admin/stats/templates                  per message template and channel
GET /admin/stats/days?from=YYYY-MM-DD&to=   per-day trend figures (default: the last 30 days)
GET /admin/stats/cohorts                    first-touch cohorts and LTV per source
GET /admin/stats/contacts/{id}              one contact's LTV, RFM, segments, messages, journeys
GET /admin/stats/rfm                        the RFM grid, segments with counts and average LTV
GET /admin/stats/segments?from=&to=         saved segments' members now and per day
GET /admin/stats/site?from=&to=&by=day|week|source
                                            the site-wide funnel: visitors -> product viewers
                                            -> carts -> checkouts -> buyers -> repeat buyers
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalice.app import Blueprint

from chalicelib import wiring
from chalicelib.api.auth import require_admin
from chalicelib.api.errors import ApiError, json_errors, json_response

# The analytics modules (and the funnel language they read) are imported by the routes that use
# them, not at cold start.
MAX_DAYS = 366

blueprint = Blueprint(__name__)


def _admin() -> dict[str, str]:
    request = blueprint.current_request
    require_admin(request)
    wiring.storage()
    return dict(request.query_params or {})


@blueprint.route("/admin/stats/funnels", methods=["GET"])
@json_errors
def funnels():  # type: ignore[no-untyped-def]
    from chalicelib.analytics import funnel_stats

    _admin()
    return json_response({"funnels": funnel_stats.funnel_list(wiring.funnel_store())})


@blueprint.route("/admin/stats/funnels/{name}", methods=["GET"])
@json_errors
def funnel(name: str):  # type: ignore[no-untyped-def]
    from chalicelib.analytics import funnel_stats
    from chalicelib.runtime.funnel_store import UnknownFunnel

    params = _admin()
    raw = params.get("version")
    if raw is not None and not raw.isdigit():
        raise ApiError(400, "version must be a whole number", field="version")
    try:
        body = funnel_stats.funnel_detail(
            wiring.funnel_store(), name, int(raw) if raw is not None else None
        )
    except UnknownFunnel as missing:
        raise ApiError(404, f"no funnel {missing}", field="name") from missing
    return json_response(body)


@blueprint.route("/admin/stats/templates", methods=["GET"])
@json_errors
def templates():  # type: ignore[no-untyped-def]
    from chalicelib.analytics import message_stats

    _admin()
    return json_response({"templates": message_stats.templates()})


@blueprint.route("/admin/stats/days", methods=["GET"])
@json_errors
def days():  # type: ignore[no-untyped-def]
    from chalicelib.analytics import trend_stats

    first, last = _range(_admin())
    return json_response({"days": trend_stats.days(first, last)})


@blueprint.route("/admin/stats/cohorts", methods=["GET"])
@json_errors
def cohorts():  # type: ignore[no-untyped-def]
    from chalicelib.analytics import trend_stats

    _admin()
    rows = trend_stats.cohorts()
    return json_response({"cohorts": rows, "sources": trend_stats.by_source(rows)})


@blueprint.route("/admin/stats/contacts/{contact_id}", methods=["GET"])
@json_errors
def contact(contact_id: str):  # type: ignore[no-untyped-def]
    from chalicelib.analytics import contact_view
    from chalicelib.storage import contacts

    _admin()
    found = contacts.resolve(contact_id)
    if found is None:
        raise ApiError(404, f"no contact with id {contact_id!r}", field="contact_id")
    return json_response(contact_view.journey(found.contact_id))


@blueprint.route("/admin/stats/rfm", methods=["GET"])
@json_errors
def rfm_grid():  # type: ignore[no-untyped-def]
    from chalicelib.analytics import rfm

    _admin()
    return json_response(rfm.read())


@blueprint.route("/admin/stats/segments", methods=["GET"])
@json_errors
def segments():  # type: ignore[no-untyped-def]
    from chalicelib.analytics import segment_stats

    first, last = _range(_admin())
    return json_response({"segments": segment_stats.segments(first, last)})


@blueprint.route("/admin/stats/site", methods=["GET"])
@json_errors
def site():  # type: ignore[no-untyped-def]
    from chalicelib.analytics import site_funnel

    params = _admin()
    by = params.get("by") or "day"
    if by not in ("day", "week", "source"):
        raise ApiError(400, "by is day, week or source", field="by")
    first, last = _range(params)
    return json_response(site_funnel.funnel(first, last, by))


def _range(params: dict[str, Any]) -> tuple[date, date]:
    today = wiring.clock()().astimezone(UTC).date()
    last = _date(params, "to", today)
    first = _date(params, "from", last - timedelta(days=29))
    if first > last:
        raise ApiError(400, "from must not be after to", field="from")
    if (last - first).days >= MAX_DAYS:
        raise ApiError(400, f"at most {MAX_DAYS} days at a time", field="from")
    return first, last


def _date(params: dict[str, Any], name: str, default: date) -> date:
    raw = params.get(name)
    if not raw:
        return default
    try:
        return datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError as error:
        raise ApiError(400, f"{name} must be a date like 2026-11-23", field=name) from error
