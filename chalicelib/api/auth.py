"""Admin bearer-token check (constant time, fails closed when no key is configured)."""

from __future__ import annotations

import hmac

from chalice.app import Request

from chalicelib.api.errors import ApiError
from chalicelib.config import current


def require_admin(request: Request) -> None:
    admin_key = current().admin_key
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if not admin_key:
        raise ApiError(401, "the admin API is disabled: AUTOFUNNEL_ADMIN_KEY is not set")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing admin key: send 'Authorization: Bearer <key>'")
    if not hmac.compare_digest(token.encode(), admin_key.encode()):
        raise ApiError(401, "wrong admin key")
