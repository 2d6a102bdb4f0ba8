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
        "AUTOFUNNEL_SITE_URL": "https://shop.example",  # tracked links may go there
        "AUTOFUNNEL_SMS_COUNTRIES": "US,DE",  # texts may go there
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


@pytest.fixture
def api(settings: Settings) -> Iterator[Client]:
    """Chalice's test client on the `local` stage (the dev/prod stages carry AWS settings)."""
    with Client(app, stage_name="local") as client:
        yield client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}
