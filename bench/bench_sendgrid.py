"""SendGrid's event webhook at volume: one signed POST of 1,000 events (SendGrid sends up to that
many per request) through the real route on DynamoDB Local. The route verifies the signature,
appends the events to the log and answers; the stream worker then applies the statuses. Prints
the route's answer time and events/s (API Gateway cuts a request off at 29 s), the worker's,
and DynamoDB units per event of each.

Before the event log the route applied every event inline, about 12 DynamoDB calls each, so a
1,000-event POST could not answer within 29 s.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from autofunnel import dynamodb_local
from bench.capacity import CapacityMeter, Usage

EVENTS = 1000
PER_MESSAGE = ("delivered", "open", "click", "click")  # a second click: counted, not a status
API_GATEWAY_LIMIT = 29.0
AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def signed(key: ec.EllipticCurvePrivateKey, body: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = key.sign((timestamp + body).encode(), ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
    }


def public_key(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def messages(count: int) -> list[str]:
    """Messages we sent (the events are about them)."""
    from chalicelib.storage.models import Message

    ids = [uuid.uuid4().hex for _ in range(count)]
    with Message.batch_write() as batch:
        for n, message_id in enumerate(ids):
            batch.save(
                Message(
                    message_id,
                    idempotency_key=message_id,
                    contact_id=f"c-{n}",
                    recorded_for=f"c-{n}",
                    channel="email",
                    address=f"person{n}@example.com",
                    status="sent",
                    created_at=AT,
                    sent_at=AT,
                    via="sendgrid",
                )
            )
    return ids


def events_about(ids: list[str]) -> list[dict[str, Any]]:
    found = []
    for n, message_id in enumerate(ids):
        for kind in PER_MESSAGE:
            event: dict[str, Any] = {
                "email": f"person{n}@example.com",
                "timestamp": int(AT.timestamp()) + len(found),
                "event": kind,
                "sg_event_id": uuid.uuid4().hex,
                "sg_message_id": f"sg{n}.filter0001",
                "message_id": message_id,
            }
            if kind == "click":
                event["url"] = "https://shop.example/p/1"
            found.append(event)
    return found[:EVENTS]


def row(label: str, usage: Usage, seconds: float) -> str:
    return (
        f"  {label:<28}{seconds:>8.2f}{EVENTS / seconds:>10.0f}"
        f"{usage.wru / EVENTS:>7.2f}{usage.rru / EVENTS:>7.2f}{usage.calls / EVENTS:>7.2f}"
    )


def main() -> None:
    emulator = dynamodb_local.start()
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        os.environ.update(
            AUTOFUNNEL_DYNAMODB_ENDPOINT=emulator.endpoint,
            AUTOFUNNEL_TABLE_PREFIX=f"sg{uuid.uuid4().hex[:6]}",
            AUTOFUNNEL_STAGE="bench",
            AUTOFUNNEL_SIGNING_SECRET="bench-secret",
            SENDGRID_WEBHOOK_PUBLIC_KEY=public_key(key),
        )
        from chalice.test import Client

        from app import app
        from chalicelib import wiring
        from chalicelib.storage.models import Message
        from chalicelib.storage.tables import create_tables

        wiring.reset()
        create_tables(wiring.storage())
        application = wiring.app()
        ids = messages(EVENTS // len(PER_MESSAGE))
        body = json.dumps(events_about(ids))
        meter = CapacityMeter()
        meter.install()
        with Client(app, stage_name="local") as client:
            began = time.perf_counter()
            answer = client.http.post(
                "/webhooks/sendgrid/events", headers=signed(key, body), body=body
            )
            route_seconds = time.perf_counter() - began
        assert answer.status_code == 200, answer.body
        assert answer.json_body["stored"] == EVENTS, answer.json_body
        route = meter.take()
        began = time.perf_counter()
        application.drain()
        worker_seconds = time.perf_counter() - began
        worker = meter.take()
        meter.uninstall()
        opened = sum(
            1
            for message in Message.batch_get(ids)
            if any(entry.get("status") == "clicked" for entry in message.status_history)
        )
        assert opened == len(ids), f"{opened} of {len(ids)} messages got their click"
    finally:
        emulator.stop()
    print(f"SendGrid event webhook: one signed POST of {EVENTS} events (DynamoDB Local)")
    print(f"  {'':<28}{'seconds':>8}{'events/s':>10}{'WRU':>7}{'RRU':>7}{'calls':>7}")
    print(row("route: verify, append, 200", route, route_seconds))
    print(row("worker: statuses applied", worker, worker_seconds))
    print(
        f"  the route answered in {route_seconds:.1f} s, "
        f"{route_seconds / API_GATEWAY_LIMIT:.0%} of API Gateway's 29 s"
    )


if __name__ == "__main__":
    main()
