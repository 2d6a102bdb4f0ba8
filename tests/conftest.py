"""Shared fixtures, and the markers derived from them (the taxonomy: tests/README.md).

DynamoDB Local starts once per test worker, only if a collected test needs it. Its tables are
created once per worker and emptied after every test (tests/shared_tables.py), so each test
still starts on empty tables.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.client
import botocore.session
import pynamodb.connection.base
import pytest
from chalice.test import Client

from app import app
from autofunnel import dynamodb_local
from chalicelib import wiring
from chalicelib.analytics import segment_store
from chalicelib.config import Settings
from chalicelib.storage.binding import bind
from tests.shared_tables import UNGUARDED_CALL, SharedTables, worker_name

ADMIN_KEY = "test-admin-key"
WRITE_KEY = "test-write-key"
SERVER_KEY = "test-server-key"
IDENTITY_SECRET = "test-identity-secret"

# A marker each fixture implies: a test that uses the fixture, directly or through another one,
# carries the marker, so `-m "not integration"` never starts DynamoDB Local.
MARKER_OF_FIXTURE = {"dynamodb": "integration", "browser": "browser"}

# The tables of the running test (None outside `settings`): the write recorder feeds them.
_recording: SharedTables | None = None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in MARKER_OF_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


@pytest.fixture(autouse=True)
def forbid_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """No request path may Scan a table: any Scan through botocore fails the test. Every write
    is recorded, so that the clean-up deletes exactly what the test wrote."""

    def guarded(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name == "Scan":
            raise AssertionError(f"Scan called on {api_params.get('TableName')}")
        if _recording is not None:
            _recording.record(operation_name, api_params)
        return UNGUARDED_CALL(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", guarded)
    start_process = subprocess.Popen.__init__

    def note_process(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        # A process started now (`chalice local`, a CLI) may write to the tables unseen.
        if _recording is not None:
            _recording.note_outside_writers()
        start_process(self, *args, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", note_process)


class _SharedSession(botocore.session.Session):
    """botocore sessions are not thread-safe: clients are created one at a time."""

    _creating = threading.Lock()

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        with self._creating:
            return super().create_client(*args, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def one_botocore_session() -> Iterator[None]:
    """PynamoDB gives every model's connection a botocore session of its own, which loads the
    DynamoDB service model again: about 150 ms of CPU per model, a second or two per test as
    `settings` rebinds the models. One session per worker keeps the model loaded.

    The other clients (the local stream poller's DynamoDB and Streams clients, built with every
    test's application) come from `botocore.session.get_session()`, a new session each time that
    parses the endpoint and service JSON again: about 300 ms of CPU per test. A second shared
    session serves them (PynamoDB's loader knows DynamoDB only, so it cannot be the same one).
    A session takes botocore's handlers when it is built: moto's, which `mock_aws` needs, are
    there because the test modules that use moto import it at collection, before this runs."""
    shared = _SharedSession()
    general = _SharedSession()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pynamodb.connection.base, "get_session", lambda: shared)
        patch.setattr(botocore.session, "get_session", lambda env_vars=None: general)
        yield


@pytest.fixture(scope="session")
def dynamodb() -> Iterator[dynamodb_local.DynamoDBLocal]:
    """This worker's DynamoDB Local (in memory)."""
    emulator = dynamodb_local.start()
    yield emulator
    emulator.stop()


def require_integration_marker(request: pytest.FixtureRequest) -> None:
    """A test that reaches DynamoDB Local only at run time (`request.getfixturevalue`) escaped
    the marking at collection: fail it rather than start the emulator in a unit run."""
    if request.node.get_closest_marker("integration") is None:
        pytest.fail(
            f"{request.node.nodeid} uses DynamoDB Local but is not marked `integration`: "
            "ask for the `settings` (or `dynamodb`) fixture in its signature",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def shared_tables(dynamodb: dynamodb_local.DynamoDBLocal) -> SharedTables:
    """The test stage's tables on this worker's emulator, created once."""
    tables = SharedTables(Settings.from_env(_test_environment(dynamodb)))
    tables.create()
    return tables


def _test_environment(dynamodb: dynamodb_local.DynamoDBLocal) -> dict[str, str]:
    return {
        "AUTOFUNNEL_STAGE": "test",
        "AUTOFUNNEL_DYNAMODB_ENDPOINT": dynamodb.endpoint,
        "AUTOFUNNEL_TABLE_PREFIX": f"test-{worker_name()}",
        "AUTOFUNNEL_ADMIN_KEY": ADMIN_KEY,
        "AUTOFUNNEL_WRITE_KEY": WRITE_KEY,
        "AUTOFUNNEL_SERVER_KEYS": SERVER_KEY,
        "AUTOFUNNEL_IDENTITY_SECRET": IDENTITY_SECRET,
        "AUTOFUNNEL_SIGNING_SECRET": "test-signing-secret",
        "AUTOFUNNEL_PUBLIC_URL": "https://af.example.test",
        "AUTOFUNNEL_SITE_URL": "https://shop.example",  # tracked links may go there
        "AUTOFUNNEL_SMS_COUNTRIES": "US,DE",  # texts may go there
    }


def fresh_process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a clean interpreter (a cold-start probe, the unpacked package) that
    runs the app against this test's tables, with the example cart funnel published."""
    source = (
        Path(__file__).resolve().parent.parent / "funnels" / "abandoned_cart.yaml"
    ).read_text()
    wiring.funnel_store().publish(source, "abandoned_cart.yaml", wiring.clock()())
    return {
        "AUTOFUNNEL_STAGE": "test",
        "AUTOFUNNEL_DYNAMODB_ENDPOINT": settings.dynamodb_endpoint,
        "AUTOFUNNEL_TABLE_PREFIX": settings.table_prefix,
        "AUTOFUNNEL_WRITE_KEY": WRITE_KEY,
        "AUTOFUNNEL_SIGNING_SECRET": "test-signing-secret",
        "AUTOFUNNEL_PUBLIC_URL": "https://af.example.test",
        "AWS_DEFAULT_REGION": "us-east-1",
        **extra,
    }


@pytest.fixture
def settings(
    dynamodb: dynamodb_local.DynamoDBLocal,
    shared_tables: SharedTables,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Settings]:
    """The app's settings on empty tables: this worker's, emptied again after the test."""
    global _recording
    require_integration_marker(request)
    for name, value in _test_environment(dynamodb).items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    settings = wiring.storage()
    bind(settings)
    _recording = shared_tables
    try:
        yield settings
    finally:
        _recording = None
        shared_tables.empty()
        segment_store.forget()  # cached per table name, and the names stay the same
        wiring.reset()
    if os.environ.get("TESTS_CHECK_EMPTY"):  # a slow audit of the clean-up (tests/README.md)
        assert shared_tables.leftovers() == {}, "the clean-up missed what this test wrote"


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
