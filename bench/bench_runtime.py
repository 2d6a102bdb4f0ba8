"""End-to-end throughput of the runtime on DynamoDB Local: contacts advanced per second through a
three-step funnel (send, wait, send, wait, send), and the DynamoDB capacity units each step costs.

Units are what DynamoDB reports (ReturnConsumedCapacity=TOTAL) for every call the runtime makes:
the event handoff, the step transaction, the send's claim and result, the wake-up bookkeeping.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autofunnel import dynamodb_local
from autofunnel.timetravel import Stack
from chalicelib import wiring
from chalicelib.storage.tables import create_tables

CONTACTS = 150
FUNNEL = """
name: three_steps
trigger: {event: signed_up}
templates:
  hello: {email: {subject: "Hello {{ contact.first_name }}", text: "Welcome aboard"}}
steps:
  - {id: m1, kind: send, channel: email, template: hello}
  - {id: w1, kind: wait, duration: 1h}
  - {id: m2, kind: send, channel: email, template: hello}
  - {id: w2, kind: wait, duration: 1d}
  - {id: m3, kind: send, channel: email, template: hello}
"""
OPERATIONS_WITH_CAPACITY = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
}


class CapacityMeter:
    """Sums the capacity units DynamoDB reports for every call made through botocore."""

    def __init__(self) -> None:
        self.units: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def install(self) -> None:
        original = botocore.client.BaseClient._make_api_call
        meter = self

        def metered(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if operation in OPERATIONS_WITH_CAPACITY:
                params = {**params, "ReturnConsumedCapacity": "TOTAL"}
            response = original(client, operation, params)
            consumed = response.get("ConsumedCapacity") if isinstance(response, dict) else None
            for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
                meter.units[operation] += float(entry.get("CapacityUnits", 0))
            meter.calls[operation] += 1
            return response

        botocore.client.BaseClient._make_api_call = metered

    def take(self) -> tuple[float, int]:
        if os.environ.get("BENCH_DETAIL"):
            print({op: (self.calls[op], round(self.units[op], 1)) for op in self.calls})
        total, calls = sum(self.units.values()), sum(self.calls.values())
        self.units.clear()
        self.calls.clear()
        return total, calls


def main() -> None:
    emulator = dynamodb_local.start()
    try:
        os.environ.update(
            AUTOFUNNEL_DYNAMODB_ENDPOINT=emulator.endpoint,
            AUTOFUNNEL_TABLE_PREFIX="bench",
            AUTOFUNNEL_STAGE="bench",
        )
        wiring.reset()
        create_tables(wiring.storage())
        start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        stack = Stack.build(start)
        stack.publish("three_steps.yaml", FUNNEL)
        for n in range(CONTACTS):
            stack.contact(f"c{n}", email=f"c{n}@example.com", first_name=f"C{n}")
        meter = CapacityMeter()
        meter.install()
        phases = []
        began = time.perf_counter()
        for n in range(CONTACTS):
            stack.event(f"c{n}", "signed_up")
        phases.append(("enter + send m1", time.perf_counter() - began, *meter.take()))
        for label, delta in (
            ("wake + send m2", timedelta(hours=1)),
            ("wake + send m3 + end", timedelta(days=1)),
        ):
            began = time.perf_counter()
            stack.advance(delta)
            phases.append((label, time.perf_counter() - began, *meter.take()))
    finally:
        emulator.stop()
    total_time = sum(p[1] for p in phases)
    print(f"Runtime end to end on DynamoDB Local: {CONTACTS} contacts through 3 sends")
    print(f"  {'phase':<24}{'contacts/s':>12}{'units/contact':>15}{'calls/contact':>15}")
    for label, seconds, units, calls in phases:
        print(
            f"  {label:<24}{CONTACTS / seconds:>12.0f}{units / CONTACTS:>15.1f}"
            f"{calls / CONTACTS:>15.1f}"
        )
    units, calls = sum(p[2] for p in phases), sum(p[3] for p in phases)
    print(
        f"  {'whole funnel':<24}{CONTACTS / total_time:>12.0f}"
        f"{units / CONTACTS:>15.1f}{calls / CONTACTS:>15.1f}"
    )


if __name__ == "__main__":
    main()
