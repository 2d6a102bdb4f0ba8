"""Analytics tests: the real ingest API and runtime (time moved by hand) with analytics wired in,
on DynamoDB Local."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from chalice.test import Client

from autofunnel.timetravel import Stack
from chalicelib.config import Settings
from tests.integration.analytics.population import START, World


@pytest.fixture
def world(settings: Settings, api: Client) -> Iterator[World]:
    """The routes, the worker and the runtime of one application, with time moved by hand."""
    yield World(api, Stack.build(START))


@pytest.fixture
def start() -> datetime:
    return START.astimezone(UTC)
