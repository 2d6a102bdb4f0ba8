"""CORS for the ingest routes: an Origin is reflected only if its write key allows it.

A preflight carries no write key, so it is answered for any origin that some key allows; the
real request is then checked against its own key.
"""

from __future__ import annotations

from chalicelib.config import Settings, WriteKey

ALLOW_HEADERS = "Authorization, Content-Type, Content-Encoding"


def allows(write_key: WriteKey, origin: str) -> bool:
    return "*" in write_key.origins or origin.rstrip("/") in {
        allowed.rstrip("/") for allowed in write_key.origins
    }


def response_headers(write_key: WriteKey | None, origin: str | None) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    if origin and write_key is not None and allows(write_key, origin):
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def preflight_headers(settings: Settings, origin: str | None) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    if origin and any(allows(key, origin) for key in settings.write_keys):
        headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": "86400",
            }
        )
    return headers
