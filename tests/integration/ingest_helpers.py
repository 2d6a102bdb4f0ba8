"""Shared helpers of the ingest tests: Segment-style requests through the Chalice test client."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.events import RecordingSink
from tests.conftest import WRITE_KEY


@pytest.fixture(name="sink")
def recording_sink(monkeypatch: pytest.MonkeyPatch) -> RecordingSink:
    """Records what ingestion hands to the funnels, in place of the runtime."""
    recording = RecordingSink()
    monkeypatch.setattr(wiring, "event_sink", lambda: recording)
    return recording


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
