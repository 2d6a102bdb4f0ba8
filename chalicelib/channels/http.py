"""A small JSON-over-HTTPS client on the standard library (Telegram, Meta, outbound webhooks):
no third-party HTTP stack in the Lambda package or on the cold-start path."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.channels.base import TemporaryFailure

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float = DEFAULT_TIMEOUT,
    label: str = "",
) -> HttpResponse:
    """POST and return the response whatever its status; timeouts and connection errors are
    TemporaryFailure (worth retrying). `label` names the target in errors instead of the URL,
    which may carry a secret (Telegram's bot token)."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResponse(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, dict(error.headers.items()), error.read())
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise TemporaryFailure(f"{label or url.split('?')[0]}: {error}") from error


def post_json(
    url: str,
    payload: Any,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    label: str = "",
) -> HttpResponse:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return post(url, body, {"Content-Type": "application/json", **(headers or {})}, timeout, label)
