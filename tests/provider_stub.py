"""A local HTTP server standing in for a provider's API (Twilio, SendGrid, Telegram, Meta, a
webhook receiver): it records every request and answers from a script, so tests drive the real
SDKs over real HTTP without the internet."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON
    headers: dict[str, str] | None = None

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes | str):
            return self.body.encode() if isinstance(self.body, str) else self.body
        return json.dumps(self.body).encode()


class ProviderStub:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: list[Reply | Callable[[Recorded], Reply]] = []
        self.default: Reply | Callable[[Recorded], Reply] = Reply(200, {})
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Recorded(
                    self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
                )
                stub.requests.append(request)
                reply = stub.replies.pop(0) if stub.replies else stub.default
                if callable(reply):
                    reply = reply(request)
                body = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **(reply.headers or {})}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = _handle

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def reply(self, *replies: Reply | Callable[[Recorded], Reply]) -> None:
        self.replies.extend(replies)


@contextmanager
def running() -> Iterator[ProviderStub]:
    stub = ProviderStub()
    thread = threading.Thread(target=stub.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub.server.shutdown()
        stub.server.server_close()
        thread.join(timeout=5)
