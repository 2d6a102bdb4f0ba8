"""What one on-site poll (POST /v1/onsite) costs: read and write units per poll through the real
route on DynamoDB Local (ReturnConsumedCapacity=TOTAL on every call), polls per second in one
process, and $ per million polls at the list prices in ../shared/REFERENCE.md (API Gateway REST
$3.50 per million requests; DynamoDB on demand $0.125 per million read units, $0.625 per
million write units). Every snippet on an open page polls about twice a minute."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autofunnel import dynamodb_local
from bench.bench_ingest import CapacityMeter
from chalicelib import wiring
from chalicelib.storage.tables import create_tables

WRITE_KEY = "bench-key"
POLLS = 200
API_GATEWAY = 3.50  # $ per million requests
READ_UNIT, WRITE_UNIT = 0.125, 0.625  # $ per million units


def poll(client: Any, anonymous_id: str, device_key: str, reports: list[dict] | None = None) -> Any:
    body = {
        "writeKey": WRITE_KEY,
        "anonymousId": anonymous_id,
        "deviceKey": device_key,
        "reports": reports or [],
    }
    response = client.http.post(
        "/v1/onsite", headers={"Content-Type": "text/plain"}, body=json.dumps(body)
    )
    assert response.status_code == 200, response.body
    return response.json_body


def visitor(client: Any) -> tuple[str, str]:
    anonymous_id = str(uuid.uuid4())
    body = {"batch": [{"type": "page", "anonymousId": anonymous_id, "messageId": anonymous_id}]}
    response = client.http.post(
        "/v1/batch",
        headers={"Content-Type": "application/json"},
        body=json.dumps({**body, "writeKey": WRITE_KEY}),
    )
    assert response.status_code == 200, response.body
    return anonymous_id, uuid.uuid4().hex


def with_message(contact_id: str) -> None:
    """An on-site message waiting in the contact's inbox, as the dispatcher leaves it."""
    from chalicelib.onsite import inbox
    from chalicelib.storage.models import Message

    now = datetime.now(UTC)
    message_id = uuid.uuid4().hex
    content = {
        "style": "chat",
        "title": "Still thinking it over?",
        "body": [["p", {}, "Your cart is waiting, 10% off today."]],
        "buttons": [{"text": "Back to my cart", "url": "https://shop.example/cart"}],
        "expires_in": 86400,
    }
    message = Message(
        message_id,
        idempotency_key=message_id,
        contact_id=contact_id,
        recorded_for=contact_id,
        channel="onsite",
        status="sent",
        content=content,
        created_at=now,
    )
    message.save()
    message.update(actions=inbox.enter(message, content, now))


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
        from chalice.test import Client

        from app import app
        from chalicelib.storage.models import Identity

        meter = CapacityMeter()
        meter.install()
        rows = []
        with Client(app, stage_name="local") as client:
            known, key = visitor(client)
            poll(client, known, key)  # the first poll binds the device key (one write)
            scenarios = {
                "returning visitor, nothing waiting": lambda: poll(client, known, key),
                "unknown visitor (first page view)": lambda: poll(
                    client, str(uuid.uuid4()), uuid.uuid4().hex
                ),
                "stranger with a visitor's id": lambda: poll(client, known, uuid.uuid4().hex),
            }
            for label, call in scenarios.items():
                meter.take()
                began = time.perf_counter()
                for _ in range(POLLS):
                    call()
                rows.append((label, time.perf_counter() - began, *meter.take(), POLLS))
            contact = str(Identity.get(f"anon:{known}").contact_id)
            shown = 0
            meter.take()
            began = time.perf_counter()
            for _ in range(20):
                with_message(contact)
            meter.take()  # the messages' own writes are the dispatcher's, not the poll's
            began = time.perf_counter()
            for _ in range(20):
                (message,) = poll(client, known, key)["messages"][:1]
                poll(client, known, key, [{"id": message["id"], "action": "clicked"}])
                shown += 1
            rows.append(
                ("a message shown, then its click", time.perf_counter() - began, *meter.take(), 40)
            )
    finally:
        emulator.stop()

    print("On-site polls through POST /v1/onsite on DynamoDB Local, one process")
    print(f"  {'':<38}{'polls/s':>9}{'RRU/poll':>10}{'WRU/poll':>10}{'calls':>7}{'$/M polls':>11}")
    for label, elapsed, rcu, wcu, calls, count in rows:
        dollars = API_GATEWAY + rcu / count * READ_UNIT + wcu / count * WRITE_UNIT
        print(
            f"  {label:<38}{count / elapsed:>9.0f}{rcu / count:>10.2f}{wcu / count:>10.2f}"
            f"{calls / count:>7.1f}{dollars:>11.2f}"
        )
    print(f"  (the click row: {shown} messages, each a poll that shows it and one that reports")
    print("   its click; the report's writes include the funnel's reaction to it)")


if __name__ == "__main__":
    main()
