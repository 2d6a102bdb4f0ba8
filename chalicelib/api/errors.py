"""Errors every route answers with: a status and a JSON body naming the problem."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from chalice.app import Response

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra

    def response(self, headers: dict[str, str] | None = None) -> Response:
        body: dict[str, Any] = {"error": self.message, **self.extra}
        if self.field is not None:
            body["field"] = self.field
        return json_response(body, self.status, headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=body,
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def json_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Route decorator: an ApiError raised in the view becomes its JSON response.

    (Chalice catches view exceptions before HTTP middleware sees them, hence a decorator.)"""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ApiError as error:
            return error.response()

    return wrapped


def storage_unavailable(error: Exception) -> ApiError:
    """A 503 the caller retries. The storage error itself (table names, ARNs, request ids) goes
    to the log only: it tells a stranger how the deployment is laid out."""
    log.error("storage unavailable: %s", error)
    return ApiError(
        503,
        "storage is unavailable, retry later",
        retry_after_seconds=RETRY_AFTER_SECONDS,
    )
