"""Ingest throughput on DynamoDB Local: Segment batches of 100 calls through the real route
(Chalice test client, one process), beside the raw PynamoDB write rate of the same server, and
the read/write capacity units each event costs (ReturnConsumedCapacity=TOTAL on every call).

The funnel runtime is replaced by a no-op sink: this measures ingestion alone. A conditional
put that fails (a duplicate messageId) returns an error without a capacity figure; DynamoDB still
bills it, so it is counted as 1 WCU (the receipt is far below 1 KB).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.client
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autofunnel import dynamodb_local
from chalicelib import wiring
from chalicelib.static.build import BUDGET
from chalicelib.storage.models import Event
from chalicelib.storage.tables import create_tables

BATCH = 100
ROUNDS = 10  # batches per scenario: 1,000 events each
RAW_ITEMS = 1000
WRITE_KEY = "bench-key"
READS = {"GetItem", "Query", "BatchGetItem", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


class CapacityMeter:
    """Read and write units DynamoDB reports for every call made through botocore."""

    def __init__(self) -> None:
        self.units: Counter[str] = Counter()
        self.calls = 0

    def install(self) -> None:
        original = botocore.client.BaseClient._make_api_call
        meter = self

        def metered(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if operation in READS | WRITES:
                params = {**params, "ReturnConsumedCapacity": "TOTAL"}
            meter.calls += 1
            try:
                response = original(client, operation, params)
            except ClientError as error:
                if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    meter.units["WCU"] += 1
                raise
            consumed = response.get("ConsumedCapacity") if isinstance(response, dict) else None
            kind = "RCU" if operation in READS else "WCU"
            for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
                meter.units[kind] += float(entry.get("CapacityUnits", 0))
            return response

        botocore.client.BaseClient._make_api_call = metered

    def take(self) -> tuple[float, float, int]:
        taken = (self.units["RCU"], self.units["WCU"], self.calls)
        self.units.clear()
        self.calls = 0
        return taken


class NullSink:
    def handle(self, events: Sequence[Any]) -> None:
        pass


def page(anon: str, n: int) -> dict[str, Any]:
    return {
        "type": "page",
        "anonymousId": anon,
        "messageId": str(uuid.uuid4()),
        "properties": {"url": f"https://shop.test/p/{n}?utm_source=bench", "title": "Product"},
        "context": {"userAgent": "Mozilla/5.0 (bench)", "locale": "en-US", "sessionId": 1},
    }


def track(anon: str, n: int) -> dict[str, Any]:
    return {
        "type": "track",
        "anonymousId": anon,
        "messageId": str(uuid.uuid4()),
        "event": "cart_updated",
        "properties": {"product_id": f"sku-{n}", "price": 19.9, "quantity": 1},
        "context": {"userAgent": "Mozilla/5.0 (bench)", "locale": "en-US", "sessionId": 1},
    }


def batch_from(visitors: list[str]) -> list[dict[str, Any]]:
    calls = []
    for n in range(BATCH):
        anon = visitors[n % len(visitors)]
        calls.append(page(anon, n) if n % 2 == 0 else track(anon, n))
    return calls


def run_ingest(
    client: Any, meter: CapacityMeter, make_batch: Callable[[int], list[dict[str, Any]]]
) -> tuple[float, float, float, int, list[dict[str, Any]]]:
    token = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    bodies = [json.dumps({"batch": make_batch(r)}).encode() for r in range(ROUNDS)]
    meter.take()
    began = time.perf_counter()
    for body in bodies:
        response = client.http.post("/v1/batch", headers=headers, body=body)
        assert response.status_code == 200, response.body
    elapsed = time.perf_counter() - began
    rcu, wcu, calls = meter.take()
    return elapsed, rcu, wcu, calls, json.loads(bodies[-1])["batch"]


def run_raw(meter: CapacityMeter) -> list[tuple[str, float, float, float, int]]:
    now = datetime.now(UTC)

    def item(n: int) -> Event:
        return Event(
            "raw-contact",
            f"{now.isoformat()}#{n}-{uuid.uuid4()}",
            event_id=str(n),
            type="track",
            name="cart_updated",
            properties={"product_id": f"sku-{n}", "price": 19.9, "quantity": 1},
            timestamp=now,
            received_at=now,
            expires_at=now + timedelta(days=400),
        )

    rows = []
    items = [item(n) for n in range(RAW_ITEMS)]
    meter.take()
    began = time.perf_counter()
    for each in items:
        each.save()
    elapsed = time.perf_counter() - began
    rows.append(("raw PynamoDB Model.save (PutItem)", elapsed, *meter.take()))
    items = [item(n) for n in range(RAW_ITEMS)]
    began = time.perf_counter()
    with Event.batch_write() as batch:
        for each in items:
            batch.save(each)
    elapsed = time.perf_counter() - began
    rows.append(("raw PynamoDB batch_write (25/req)", elapsed, *meter.take()))
    return rows


def main() -> None:
    emulator = dynamodb_local.start()
    try:
        os.environ.update(
            AUTOFUNNEL_DYNAMODB_ENDPOINT=emulator.endpoint,
            AUTOFUNNEL_TABLE_PREFIX=f"bench{uuid.uuid4().hex[:6]}",
            AUTOFUNNEL_STAGE="bench",
            AUTOFUNNEL_WRITE_KEY=WRITE_KEY,
        )
        wiring.reset()
        create_tables(wiring.storage())
        wiring.event_sink = NullSink  # type: ignore[assignment]  # ingestion alone

        from chalice.test import Client

        from app import app

        meter = CapacityMeter()
        meter.install()
        rows = run_raw(meter)
        returning_one = ["visitor-one"]
        returning_ten = [f"visitor-{n}" for n in range(10)]
        with Client(app, stage_name="local") as client:
            # Warm-up (not measured): the returning visitors' first visit, and imports.
            run_ingest(client, meter, lambda r: batch_from(returning_one + returning_ten))
            scenarios: list[tuple[str, Callable[[int], list[dict[str, Any]]]]] = [
                ("ingest: 1 returning visitor", lambda r: batch_from(returning_one)),
                ("ingest: 10 returning visitors", lambda r: batch_from(returning_ten)),
                (
                    "ingest: 100 new visitors",
                    lambda r: batch_from([f"new-{r}-{n}" for n in range(BATCH)]),
                ),
            ]
            last: list[dict[str, Any]] = []
            for label, make in scenarios:
                elapsed, rcu, wcu, calls, last = run_ingest(client, meter, make)
                rows.append((label, elapsed, rcu, wcu, calls))
            replay = last
            elapsed, rcu, wcu, calls, _ = run_ingest(client, meter, lambda r: replay)
            rows.append(("ingest: retried batch (duplicates)", elapsed, rcu, wcu, calls))
    finally:
        emulator.stop()

    snippet = (Path(__file__).resolve().parent.parent / "chalicelib/static/t.min.js").read_bytes()
    print(f"Ingest on DynamoDB Local, one process, batches of {BATCH} (events or items per row:")
    print(f"  {ROUNDS * BATCH} ingest, {RAW_ITEMS} raw)")
    print(f"  {'':<38}{'events/s':>10}{'RCU/event':>11}{'WCU/event':>11}{'calls/event':>13}")
    for label, elapsed, rcu, wcu, calls in rows:
        count = RAW_ITEMS if label.startswith("raw") else ROUNDS * BATCH
        print(
            f"  {label:<38}{count / elapsed:>10.0f}{rcu / count:>11.2f}{wcu / count:>11.2f}"
            f"{calls / count:>13.2f}"
        )
    size = len(gzip.compress(snippet, compresslevel=9))
    print(f"  snippet /t.js: {len(snippet)} bytes minified, {size} bytes gzipped (budget {BUDGET})")


if __name__ == "__main__":
    main()
