"""The tracking snippet (GET /t.js) and the demo shop page (GET /demo) that uses it."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from chalice.app import Blueprint, Response

from chalicelib.api.errors import ApiError, json_errors
from chalicelib.config import current

blueprint = Blueprint(__name__)
STATIC = Path(__file__).resolve().parent.parent / "static"


@lru_cache(maxsize=4)
def static_text(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


@blueprint.route("/t.js", methods=["GET"])
def snippet() -> Response:
    return Response(
        body=static_text("t.min.js"),
        status_code=200,
        headers={
            "Content-Type": "application/javascript; charset=utf-8",
            # Short: a fixed snippet reaches every site within minutes of a deploy.
            "Cache-Control": "public, max-age=300",
            "Access-Control-Allow-Origin": "*",
        },
    )


@blueprint.route("/demo", methods=["GET"])
@json_errors
def demo() -> Response:
    """A shop page to try the snippet on (not served on the prod stage)."""
    settings = current()
    if settings.stage == "prod":
        raise ApiError(404, "the demo page is not served on the prod stage")
    params = blueprint.current_request.query_params or {}
    key = params.get("key") or next((k.key for k in settings.write_keys), "")
    if not key or settings.write_key(key) is None:
        raise ApiError(400, "no write key for the demo: set AUTOFUNNEL_WRITE_KEY", field="key")
    page = (
        static_text("demo.html")
        # Without a public URL, "./t.js" resolves beside /demo (under API Gateway's stage path too).
        .replace("{{API_JSON}}", _script_json(settings.public_url or "."))
        .replace("{{WRITE_KEY_JSON}}", _script_json(key))
    )
    return Response(
        body=page, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"}
    )


def _script_json(value: str) -> str:
    """A JS string literal that cannot close the <script> element it sits in."""
    return json.dumps(value).replace("<", "\\u003c")
