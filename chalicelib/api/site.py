"""The tracking snippet (GET /t.js) and the demo shop page (GET /demo) that uses it."""

from __future__ import annotations

import json
import secrets
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
    nonce = secrets.token_urlsafe(16)
    page = (
        static_text("demo.html")
        # Without a public URL, "./t.js" resolves beside /demo (under API Gateway's stage path too).
        .replace("{{API_JSON}}", _script_json(settings.public_url or "."))
        .replace("{{WRITE_KEY_JSON}}", _script_json(key))
        .replace("{{NONCE}}", nonce)
    )
    return Response(
        body=page,
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "Content-Security-Policy": demo_policy(nonce, settings.public_url),
        },
    )


def demo_policy(nonce: str, api: str) -> str:
    """A strict policy, as a careful shop would set: the snippet must work under it (no inline
    style or script of its own, nothing loaded but /t.js, requests to the API only)."""
    hosts = f"'self' {api}".strip()
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}' {hosts}; style-src 'nonce-{nonce}'; "
        f"connect-src {hosts}; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )


def _script_json(value: str) -> str:
    """A JS string literal that cannot close the <script> element it sits in."""
    return json.dumps(value).replace("<", "\\u003c")
