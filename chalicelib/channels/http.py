"""A small JSON-over-HTTPS client on the standard library (Telegram, Meta, outbound webhooks):
no third-party HTTP stack in the Lambda package or on the cold-start path."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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
    connect_to: str | None = None,
    context: ssl.SSLContext | None = None,
) -> HttpResponse:
    """POST and return the response whatever its status; timeouts and connection errors are
    TemporaryFailure (worth retrying). `label` names the target in errors instead of the URL,
    which may carry a secret (Telegram's bot token). `connect_to`: the address an https URL's
    host was checked to resolve to (`targets.check`); the connection goes there, the
    certificate is verified for the host, and redirects are not followed."""
    if connect_to is not None:
        return _post_pinned(url, body, headers, timeout, label, connect_to, context)
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResponse(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, dict(error.headers.items()), error.read())
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise TemporaryFailure(f"{label or url.split('?')[0]}: {error}") from error


class _PinnedConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def _post_pinned(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    label: str,
    address: str,
    context: ssl.SSLContext | None,
) -> HttpResponse:
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = _PinnedConnection(
        parts.hostname or "",
        address,
        port=parts.port,
        timeout=timeout,
        context=context or ssl.create_default_context(),
    )
    try:
        connection.request("POST", path, body=body, headers=dict(headers))
        response = connection.getresponse()
        return HttpResponse(response.status, dict(response.getheaders()), response.read())
    except (OSError, http.client.HTTPException) as error:  # timeouts, TLS, resets
        raise TemporaryFailure(f"{label or url.split('?')[0]}: {error}") from error
    finally:
        connection.close()


def post_json(
    url: str,
    payload: Any,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    label: str = "",
) -> HttpResponse:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return post(url, body, {"Content-Type": "application/json", **(headers or {})}, timeout, label)
