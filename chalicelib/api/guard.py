"""Every HTTP request first passes this guard: a deployment whose settings are unsafe (a
development default or short key on AWS, an unreadable SSM secret, a malformed variable) answers
503 to everything until fixed. The log says why (`chalicelib.config.current`); the answer does
not, since it would tell a stranger which key is weak."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Request, Response

from chalicelib.api.errors import json_response
from chalicelib.config import current

blueprint = Blueprint(__name__)
RETRY_AFTER_SECONDS = 60


@blueprint.middleware("http")
def refuse_unsafe_settings(request: Request, get_response: Callable[[Request], Any]) -> Any:
    if current().problems:
        return json_response(
            {"error": "this deployment is not configured safely yet; its logs say what to fix"},
            503,
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    response: Response = get_response(request)
    return response
