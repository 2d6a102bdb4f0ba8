"""Shared helpers of the ingest tests: Segment-style requests through the Chalice test client."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

from chalice.test import Client

from tests.conftest import WRITE_KEY


def basic(key: str = WRITE_KEY) -> dict[str, str]:
    token = base64.b64encode(f"{key}:".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def post(api: Client, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.http.post(path, headers=headers or basic(), body=raw)


def contact_of(api: Client, admin_headers: dict[str, str], **query: str) -> dict[str, Any]:
    response = api.http.get(f"/admin/contacts?{urlencode(query)}", headers=admin_headers)
    assert response.status_code == 200, response.body
    found = response.json_body["contacts"]
    assert len(found) == 1, found
    return found[0]
