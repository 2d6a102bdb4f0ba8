"""Fixtures of the paged-job tests: DynamoDB calls counted and killed at the botocore layer."""

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
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation, params)
        counter.calls += 1
        if counter.should_kill():
            raise Killed(f"killed before {operation} (call {counter.calls})")
        response = original(client, operation, params)
        if operation == "UpdateItem" and str(params.get("TableName", "")).endswith("-jobs"):
            counter.job_writes += 1
        return response

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    return counter
