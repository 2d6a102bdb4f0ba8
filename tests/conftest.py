"""Shared fixtures. DynamoDB Local starts once per test session, only if a test asks for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest
from chalice.test import Client

from app import app
from autofunnel import dynamodb_local
from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.storage.binding import bind
from chalicelib.storage.tables import create_tables, delete_tables

ADMIN_KEY = "test-admin-key"
WRITE_KEY = "test-write-key"


@pytest.fixture(autouse=True)
def forbid_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """No request path may Scan a table: any Scan through botocore fails the test."""
    original = botocore.client.BaseClient._make_api_call

    def guarded(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name == "Scan":
            raise AssertionError(f"Scan called on {api_params.get('TableName')}")
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", guarded)


@pytest.fixture(scope="session")
def dynamodb() -> Iterator[dynamodb_local.DynamoDBLocal]:
    emulator = dynamodb_local.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def settings(
    dynamodb: dynamodb_local.DynamoDBLocal, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """A fresh set of tables (unique prefix) for one test, wired into the app's settings."""
    env = {
        "AUTOFUNNEL_STAGE": "test",
        "AUTOFUNNEL_DYNAMODB_ENDPOINT": dynamodb.endpoint,
        "AUTOFUNNEL_TABLE_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        "AUTOFUNNEL_ADMIN_KEY": ADMIN_KEY,
        "AUTOFUNNEL_WRITE_KEY": WRITE_KEY,
        "AUTOFUNNEL_SIGNING_SECRET": "test-signing-secret",
        "AUTOFUNNEL_PUBLIC_URL": "https://af.example.test",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    settings = wiring.storage()
    create_tables(settings)
    bind(settings)
    yield settings
    delete_tables(settings)
    wiring.reset()


class _DrainingHttp:
    """Chalice's HTTP test client, then the stream worker: what the route appended to the event
    log is handled before the test looks (on AWS the worker Lambda follows within seconds)."""

    def __init__(self, http: Any) -> None:
        self._http = http

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._http, name)
        if name not in ("get", "post", "put", "delete", "patch", "request", "options", "head"):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            response = method(*args, **kwargs)
            wiring.app().drain()
            return response

        return call


class DrainingClient(Client):
    """Each request through `http` is followed by the stream worker; `http_only` skips it."""

    @property
    def http(self) -> Any:
        return _DrainingHttp(super().http)

    @property
    def http_only(self) -> Any:
        return super().http


@pytest.fixture
def api(settings: Settings) -> Iterator[Client]:
    """Chalice's test client on the `local` stage (the dev/prod stages carry AWS settings)."""
    with DrainingClient(app, stage_name="local") as client:
        yield client


@pytest.fixture
def drain(settings: Settings) -> Any:
    """Run the stream worker until the log is handled; returns how many records it handled."""
    return lambda: wiring.app().drain()


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}
