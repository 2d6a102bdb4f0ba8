"""Fixtures shared by the integration tests."""

from __future__ import annotations

from typing import Any

import botocore.client
import pytest

from tests.integration.paging.faults import CallCounter, Killed


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> CallCounter:
    """DynamoDB calls counted at the botocore layer, and killed at the N-th on request (like a
    Lambda timeout: `Killed` is a BaseException no handler catches)."""
    counter = CallCounter()
    original = botocore.client.BaseClient._make_api_call

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            counter.calls += 1
            if counter.should_kill():
                raise Killed(f"killed before {operation} (call {counter.calls})")
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    return counter
