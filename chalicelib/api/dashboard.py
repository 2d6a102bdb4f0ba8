"""The dashboard: a static page and its assets served by the app. The page itself holds no data;
it asks for the admin key and reads the admin API with it, so nothing is shown without the key.

GET /dashboard                          the page
GET /dashboard/assets/{name}            app.js, style.css
GET /dashboard/assets/vendor/{name}     the vendored Chart.js and Mermaid (no CDN)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from chalice.app import Blueprint, Response

blueprint = Blueprint(__name__)
ROOT = Path(__file__).resolve().parent.parent / "static" / "dashboard"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
VENDOR = {"chart.umd.min.js": "text/javascript", "mermaid.min.js": "text/javascript"}
# Scripts from this app only (no inline script can run, whatever data a page shows); Mermaid
# styles its SVG inline, hence 'unsafe-inline' for styles alone.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@lru_cache(maxsize=8)
def _read(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


@blueprint.route("/dashboard", methods=["GET"])
def page() -> Response:
    return Response(
        body=_read("index.html"),
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "Content-Security-Policy": CSP,
            **SECURITY,
        },
    )


@blueprint.route("/dashboard/assets/{name}", methods=["GET"])
def asset(name: str) -> Response:
    return _asset(name, ASSETS, "no-cache")


@blueprint.route("/dashboard/assets/vendor/{name}", methods=["GET"])
def vendor(name: str) -> Response:
    return _asset(f"vendor/{name}", {f"vendor/{k}": v for k, v in VENDOR.items()}, "max-age=86400")


def _asset(relative: str, allowed: dict[str, str], cache: str) -> Response:
    if relative not in allowed:  # a fixed list: no path ever reaches the file system unchecked
        return Response(body="not found", status_code=404, headers={"Content-Type": "text/plain"})
    return Response(
        body=_read(relative),
        status_code=200,
        headers={
            "Content-Type": f"{allowed[relative]}; charset=utf-8",
            "Cache-Control": cache,
            **SECURITY,
        },
    )
