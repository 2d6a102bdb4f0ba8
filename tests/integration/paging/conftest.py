"""Fixtures of the paged-job tests."""

from __future__ import annotations

from typing import Any

import botocore.client
import pytest

from tests.integration.paging.faults import CallCounter, Killed


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> CallCounter:
    counter = CallCounter()
    original = botocore.client.BaseClient._make_api_call

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            counter.calls += 1
            if counter.kill_at is not None and counter.calls >= counter.kill_at:
                counter.kill_at = None
                raise Killed(f"killed at {operation}")
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    return counter
