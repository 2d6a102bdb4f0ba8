"""Analytics tests: the real ingest API and runtime (time moved by hand) with analytics wired in,
on DynamoDB Local."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from chalice.test import Client

from autofunnel.timetravel import Stack
from chalicelib import wiring
from chalicelib.config import Settings
from tests.integration.analytics.population import START, World


@pytest.fixture
def world(settings: Settings, api: Client) -> Iterator[World]:
    stack = Stack.build(START)
    stack.runtime.observer = wiring.observer()
    # Undone before `settings` resets the wiring (which clears the real factories' caches).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wiring, "runtime", lambda: stack.runtime)
        patch.setattr(wiring, "clock", lambda: stack.clock)
        yield World(api, stack)


@pytest.fixture
def start() -> datetime:
    return START.astimezone(UTC)
