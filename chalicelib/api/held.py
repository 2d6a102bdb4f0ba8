"""Admin API (bearer token): the sending caps, and the messages held over a daily limit.

GET /admin/held: each channel's daily limit, what today used of it, the SMS countries, the
frequency cap, and the held messages (oldest first; `?channel=sms`, `?limit=100`).
POST /admin/held/release and /admin/held/discard (JSON `{"channel": "sms"}`, optional): let
the held messages go out with the next sweep (past today's limit), or drop them for good.
"""

from __future__ import annotations

from collections import Counter as Tally

from chalice.app import Blueprint

from chalicelib import wiring
from chalicelib.api.auth import require_admin
from chalicelib.api.errors import ApiError, json_errors, json_response

# The held messages' modules (the dispatcher's graph: channels, quiet hours, the funnel models)
# load in the route that uses them, not at every cold start of the API.
blueprint = Blueprint(__name__)
JSON = ["application/json", "text/plain"]


@blueprint.route("/admin/held", methods=["GET"])
@json_errors
def held_messages():  # type: ignore[no-untyped-def]
    request = blueprint.current_request
    require_admin(request)
    from chalicelib.channels.daily_limits import DailyBudget
    from chalicelib.runtime import held

    settings = wiring.storage()
    params = request.query_params or {}
    limit = _limit(params.get("limit") or "100", held.MAX_PER_CALL)
    messages = list(held.held(params.get("channel") or None, held.MAX_PER_CALL))
    now = wiring.clock()()
    cap = settings.frequency_cap
    return json_response(
        {
            "limits": dict(settings.daily_limits),
            "used_today": DailyBudget(settings.daily_limits).used(now),
            "held_count": dict(Tally(message.channel for message in messages)),
            "held": [held.summary(message) for message in messages[:limit]],
            "sms_countries": sorted(settings.allowed_sms_countries),
            "frequency_cap": f"{cap[0]} per {_duration(cap[1].total_seconds())}" if cap else None,
        }
    )


@blueprint.route("/admin/held/{action}", methods=["POST"], content_types=JSON)
@json_errors
def act_on_held(action: str):  # type: ignore[no-untyped-def]
    request = blueprint.current_request
    require_admin(request)
    from chalicelib.runtime import held

    wiring.storage()
    if action not in ("release", "discard"):
        raise ApiError(404, "the actions are release and discard", field="action")
    body = request.json_body if request.raw_body else {}
    channel = body.get("channel") if isinstance(body, dict) else None
    if channel is not None and not isinstance(channel, str):
        raise ApiError(400, "channel must be a string such as 'sms'", field="channel")
    now = wiring.clock()()
    if action == "release":
        return json_response({"released": held.release(channel, now)})
    return json_response({"discarded": held.discard(channel, now)})


def _limit(raw: str, maximum: int) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(400, f"limit must be a number from 1 to {maximum}", field="limit")
    return int(raw)


def _duration(seconds: float) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
