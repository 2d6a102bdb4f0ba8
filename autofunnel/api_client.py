"""A small client of the admin API for the CLI (the local stack or a deployed one)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from autofunnel.devstack import DEV_ADMIN_KEY


class ApiFailure(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        message = body.get("error") if isinstance(body, dict) else str(body)
        super().__init__(f"HTTP {status}: {message}")


@dataclass(frozen=True)
class AdminApi:
    base_url: str
    admin_key: str

    @classmethod
    def from_env(cls, url: str | None = None, admin_key: str | None = None) -> AdminApi:
        port = os.environ.get("AUTOFUNNEL_PORT") or "8000"
        return cls(
            (url or os.environ.get("AUTOFUNNEL_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
            admin_key or os.environ.get("AUTOFUNNEL_ADMIN_KEY") or DEV_ADMIN_KEY,
        )

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.base_url + path,
            data=body,
            method=method,
            headers={"Authorization": f"Bearer {self.admin_key}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode(errors="replace")
            raise ApiFailure(error.code, payload) from error
