"""Capacity and cost, all-in: DynamoDB units per returning visitor's event and per sent funnel
message (from the trigger to the provider call: through the outbox, then through a provider
whose callbacks carry our message id), per provider status on a sent message (SendGrid's
`delivered` and `open`, through the signed event webhook), and $ per million at AWS's list prices.

Everything goes through the real routes (chalice.test.Client), the event log's stream worker
(the funnels, analytics), and the step runner on DynamoDB Local; every DynamoDB call is metered
(bench/capacity.py). Lambda time is measured around each invocation: each route request, each
stream batch the worker handles, each wake-up. The stream is drained after each phase's requests,
as a busy site fills the worker's batches (up to 1,000 records, 5 s window); `--drain-each` hands
every request's records to the worker alone (a quiet site: one record per batch). The local
scheduler's own table (`wakeups`) is left out: on AWS, EventBridge Scheduler holds the wake-ups
($1 per million fired, added per wake-up).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric import ec

from autofunnel import dynamodb_local
from bench.bench_sendgrid import public_key, signed
from bench.capacity import CapacityMeter, Usage

WRITE_KEY = "bench-write-key"
VISITORS = 1000  # a busy site: a full batch of the stream (chalicelib.eventlog.stream)
CONTACTS = 100
SCHEDULER_PRICE = 1.00 / 1e6  # EventBridge Scheduler, per wake-up fired
BUDGET_EVENT = (2.0, 1.0)  # WRU, RRU
BUDGET_MESSAGE = (8.0, 2.0)
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

HTML_BLOCKS = 20  # product rows: a typical 20 KB newsletter-style email, inline styles
WORDS = [
    "light",
    "grippy",
    "trail",
    "road",
    "merino",
    "wool",
    "breathable",
    "waterproof",
    "cushioned",
    "responsive",
    "rocker",
    "heel",
    "toe",
    "drop",
    "stack",
    "foam",
    "carbon",
    "plate",
    "outsole",
    "lug",
    "mesh",
    "upper",
    "knit",
    "lace",
    "loop",
    "pull",
    "tab",
    "reflective",
    "winter",
    "summer",
    "marathon",
    "tempo",
    "recovery",
    "daily",
    "trainer",
    "stability",
    "neutral",
    "wide",
    "narrow",
    "colour",
    "black",
    "white",
    "orange",
    "teal",
    "grey",
    "navy",
    "limited",
    "edition",
    "restock",
    "bestseller",
    "new",
]


def html_funnel() -> str:
    """The same three steps with an HTML email as an email builder exports it (table layout,
    inline styles, a description and an image of its own per product): about 20 KB rendered,
    which zlib packs about 7 times (exported newsletters pack 4 to 7 times)."""
    words = random.Random(7).choices(WORDS, k=HTML_BLOCKS * 40)
    row = (
        '<tr><td style="padding:12px 24px;font-family:Helvetica,Arial,sans-serif;font-size:15px;'
        'line-height:22px;color:#333333;border-bottom:1px solid #eeeeee"><table role="presentation"'
        ' width="100%" cellpadding="0" cellspacing="0"><tr>'
        '<td width="96" style="padding-right:16px">'
        '<img src="https://cdn.shop.example/p/sku-{n}.jpg" width="96" height="96" alt="Product {n}"'
        ' style="display:block;border:0;border-radius:4px"></td><td style="vertical-align:top">'
        '<a href="https://shop.example/products/sku-{n}?utm_source=email" style="color:#1a73e8;'
        'text-decoration:none;font-weight:bold">{name}</a><br>{text}'
        ' <span style="color:#188038;font-weight:bold">EUR {price}</span></td></tr>'
        "</table></td></tr>"
    )
    rows = "".join(
        row.format(
            n=f"{1000 + n}-{hashlib.sha256(str(n).encode()).hexdigest()[:16]}",
            name=" ".join(words[n * 40 : n * 40 + 3]).title(),
            text=" ".join(words[n * 40 + 3 : n * 40 + 40]).capitalize() + ".",
            price=f"{49 + n * 7.3:.2f}",
        )
        for n in range(HTML_BLOCKS)
    )
    html = (
        '<!doctype html><html><body style="margin:0;padding:0;background:#f4f4f4">'
        '<table role="presentation" width="600" align="center" cellpadding="0" cellspacing="0"'
        ' style="background:#ffffff"><tr><td style="padding:24px;font-family:Helvetica,Arial,'
        'sans-serif;font-size:22px;color:#111111">Hello {{ contact.first_name }}</td></tr>'
        f"{rows}</table></body></html>"
    )
    template = json.dumps({"subject": "New in for you, {{ contact.first_name }}", "html": html})
    return (
        FUNNEL.replace("three_steps", "html_steps")
        .replace("signed_up", "joined")
        .replace(
            '{email: {subject: "Hello {{ contact.first_name }}", text: "Welcome aboard"}}',
            f"{{email: {template}}}",
        )
    )


def snippet_call(kind: str, anon: str, n: int, at: datetime) -> dict[str, Any]:
    """A call as the snippet (t.js) sends it."""
    call: dict[str, Any] = {
        "type": kind,
        "anonymousId": anon,
        "messageId": str(uuid.uuid4()),
        "originalTimestamp": at.isoformat(),
        "context": {
            "library": {"name": "autofunnel.js", "version": "1.0.0"},
            "page": {
                "url": f"https://shop.example/products/{n}",
                "path": f"/products/{n}",
                "title": "Running shoes - Shop",
                "referrer": "https://shop.example/",
            },
            "userAgent": (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/126.0 Safari/537.36"
            ),
            "locale": "en-US",
            "sessionId": "1732350000000",
            "timezone": "Europe/Berlin",
        },
    }
    if kind == "track":
        call["event"] = "product_viewed"
        call["properties"] = {"product_id": f"sku-{n}", "price": 89.9, "currency": "EUR"}
    return call


class Harness:
    """The app as AWS runs it: API Gateway + route Lambdas, the stream worker Lambda and the
    step-runner Lambda, with a clock the bench moves by hand."""

    def __init__(self, client: Any, meter: CapacityMeter, stack: Any, drain_each: bool) -> None:
        self.client = client
        self.meter = meter
        self.stack = stack
        self.drain_each = drain_each
        token = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        self.wakeups = 0
        self.batches = 0
        for stream in stack.app.streams.streams:  # each batch the worker gets: one invocation
            stream.handler = self._timed(stream.handler)

    def _timed(self, handler: Any) -> Any:
        def timed(event: Any, context: Any) -> Any:
            with self.meter.lambda_time():
                self.batches += 1
                return handler(event, context)

        return timed

    def post(self, path: str, body: dict[str, Any]) -> None:
        with self.meter.lambda_time(http_requests=1):
            response = self.client.http.post(path, headers=self.headers, body=json.dumps(body))
        assert response.status_code == 200, response.body
        if self.drain_each:
            self.drain()

    def drain(self) -> None:
        """The stream worker handles everything appended so far, a batch per invocation."""
        self.stack.drain()

    def advance(self, delta: timedelta) -> None:
        """Fire the wake-ups that fall due, each one step-runner invocation."""
        runtime = self.stack.runtime
        original = runtime.handle_wakeup

        def timed(payload: dict[str, Any]) -> None:
            with self.meter.lambda_time():
                original(payload)
            self.wakeups += 1

        runtime.handle_wakeup = timed
        try:
            self.stack.advance(delta)
        finally:
            runtime.handle_wakeup = original


def setup(start: datetime) -> tuple[Any, Any]:
    from autofunnel.timetravel import Stack
    from chalicelib import wiring
    from chalicelib.storage.tables import create_tables

    wiring.reset()
    create_tables(wiring.storage())
    stack = Stack.build(start)
    stack.funnels._index_ttl = 30.0  # as deployed (the time-travel stack reloads every time)
    for path in sorted(Path("funnels").rglob("*.yaml")):
        if not path.name.endswith(".story.yaml"):
            stack.publish(path.name, path.read_text())
    stack.publish("three_steps.yaml", FUNNEL)
    stack.publish("html_steps.yaml", html_funnel())
    return stack, wiring


def events_scenario(harness: Harness, start: datetime, per_request: int) -> tuple[Usage, int]:
    """Returning visitors (known from an earlier visit) send `per_request` events per request."""
    visitors = [f"visitor-{per_request}-{n}" for n in range(VISITORS)]
    for n, anon in enumerate(visitors):  # the earlier visit (not measured)
        harness.post("/v1/batch", {"batch": [snippet_call("page", anon, n, start)]})
    harness.drain()
    harness.meter.take()
    events = 0
    for n, anon in enumerate(visitors):
        calls = [
            snippet_call("page" if i % 2 == 0 else "track", anon, n + i, start)
            for i in range(per_request)
        ]
        harness.post("/v1/batch", {"batch": calls, "sentAt": start.isoformat()})
        events += len(calls)
    harness.drain()
    return harness.meter.take(), events


class Provider:
    """An email provider whose status callbacks carry our message id (as Telegram's, Meta's and
    outbound webhooks' do): its send records index nothing by the provider's id."""

    name = "email"

    def __init__(self) -> None:
        self.sent = 0
        self.unreported: list[str] = []  # sent, no status posted yet

    def send(self, message: Any) -> Any:
        from chalicelib.channels.base import SendResult

        self.sent += 1
        self.unreported.append(message.message_id)
        return SendResult(provider_id=f"provider-{message.message_id}")


def messages_scenario(
    harness: Harness, prefix: str = "user", trigger: str = "signed_up"
) -> tuple[Usage, Usage]:
    """Known contacts enter the three-step funnel on a tracked event; three sends each."""
    users = [f"{prefix}-{n}" for n in range(CONTACTS)]
    for n, user in enumerate(users):  # the sign-up (not measured)
        traits = {"email": f"{prefix[0]}{n}@example.com", "first_name": f"U{n}"}
        harness.post("/v1/identify", {"userId": user, "traits": traits})
    harness.drain()
    harness.meter.take()
    harness.wakeups = 0
    for user in users:
        harness.post("/v1/track", {"userId": user, "event": trigger})
    harness.drain()
    triggered = harness.meter.take()
    harness.advance(timedelta(hours=1))
    harness.advance(timedelta(days=1))
    usage = harness.meter.take()
    usage.add(triggered)
    return usage, triggered


STATUSES = ("delivered", "open")  # what SendGrid reports of nearly every email, in order


class SendGrid:
    """SendGrid's event webhook: after each step's sends, one signed POST per kind with that
    kind's event for every message just sent (SendGrid batches what it has; a step of 100
    contacts makes posts of 100), each drained by the worker."""

    def __init__(self, harness: Harness, provider: Provider, key: Any) -> None:
        self.harness = harness
        self.provider = provider
        self.key = key
        self.usage = Usage()
        self.statuses = 0
        self.reported: list[str] = []

    def report(self) -> None:
        """Post the statuses of what went out since the last report; their usage is kept
        apart from the sends'."""
        sends = self.harness.meter.take()
        ids, self.provider.unreported = self.provider.unreported, []
        self.reported += ids
        at = int(self.harness.stack.clock().timestamp())
        for kind in STATUSES:
            events = [
                {
                    "email": f"{message_id}@example.com",
                    "timestamp": at,
                    "event": kind,
                    "sg_event_id": uuid.uuid4().hex,
                    "sg_message_id": f"provider-{message_id}.filter0001",
                    "message_id": message_id,
                }
                for message_id in ids
            ]
            body = json.dumps(events)
            with self.harness.meter.lambda_time(http_requests=1):
                response = self.harness.client.http.post(
                    "/webhooks/sendgrid/events", headers=signed(self.key, body), body=body
                )
            assert response.status_code == 200, response.body
            self.harness.drain()
            self.statuses += len(events)
        self.usage.add(self.harness.meter.take())
        self.harness.meter.usage = sends  # the sends' usage goes on as if nothing happened


def statuses_scenario(
    harness: Harness,
    provider: Provider,
    key: Any,
    prefix: str = "reader",
    trigger: str = "signed_up",
) -> tuple[Usage, int]:
    """The three-step funnel through the provider, SendGrid reporting each send's statuses
    while the contact waits for the next step (after the last, its enrollment has ended)."""
    sendgrid = SendGrid(harness, provider, key)
    users = [f"{prefix}-{n}" for n in range(CONTACTS)]
    for n, user in enumerate(users):  # the sign-up (not measured)
        traits = {"email": f"{prefix[0]}{n}@example.com"}  # a letter of its own per scenario
        harness.post("/v1/identify", {"userId": user, "traits": traits})
    harness.drain()
    for user in users:
        harness.post("/v1/track", {"userId": user, "event": trigger})
    harness.drain()
    sendgrid.report()
    for delta in (timedelta(hours=1), timedelta(days=1)):
        harness.advance(delta)
        sendgrid.report()
    from chalicelib.storage.models import Message

    opened = sum(1 for m in Message.batch_get(sendgrid.reported) if m.status == "opened")
    assert opened == len(sendgrid.reported), f"{opened} of {len(sendgrid.reported)} opened"
    harness.meter.take()
    return sendgrid.usage, sendgrid.statuses


def without_local_scheduler(usage: Usage) -> Usage:
    """The wakeups table is the local stand-in for EventBridge Scheduler: not an AWS cost."""
    kept = Usage(
        calls=usage.calls,
        seconds=usage.seconds,
        invocations=usage.invocations,
        http_requests=usage.http_requests,
    )
    for key, units in usage.by_table.items():
        if key.endswith(" wakeups"):
            continue
        kept.by_table[key] = units
        if key.split(" ")[0] in ("GetItem", "Query", "BatchGetItem", "TransactGetItems"):
            kept.rru += units
        else:
            kept.wru += units
    return kept


def row(label: str, usage: Usage, count: int, extra: float = 0.0) -> str:
    per = 1e6 / count
    dollars = usage.dollars() * per + extra * per
    return (
        f"  {label:<46}{usage.wru / count:>7.2f}{usage.rru / count:>7.2f}"
        f"{usage.seconds * 1000 / count:>10.1f}{dollars:>10.2f}"
    )


def detail(usage: Usage, count: int) -> None:
    for key, units in sorted(usage.by_table.items(), key=lambda kv: -kv[1]):
        print(f"      {key:<40}{units / count:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drain-each", action="store_true", help="one request per batch")
    arguments = parser.parse_args()
    emulator = dynamodb_local.start()
    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    try:
        os.environ.update(
            AUTOFUNNEL_DYNAMODB_ENDPOINT=emulator.endpoint,
            AUTOFUNNEL_TABLE_PREFIX=f"cost{uuid.uuid4().hex[:6]}",
            AUTOFUNNEL_STAGE="bench",
            AUTOFUNNEL_WRITE_KEY=WRITE_KEY,
            AUTOFUNNEL_SIGNING_SECRET="bench-secret",
            AUTOFUNNEL_PUBLIC_URL="https://af.example",
            SENDGRID_WEBHOOK_PUBLIC_KEY=public_key(key),
        )
        stack, _ = setup(start)
        from chalice.test import Client

        from app import app

        meter = CapacityMeter()
        meter.install()
        results: list[tuple[str, Usage, int, float]] = []
        with Client(app, stage_name="local") as client:
            harness = Harness(client, meter, stack, arguments.drain_each)
            for per_request, label in ((1, "1 event per request"), (5, "a visit: 5 per request")):
                usage, events = events_scenario(harness, start, per_request)
                results.append((f"returning visitor, {label}", usage, events, 0.0))
            from chalicelib.storage.models import Message

            usage, _ = messages_scenario(harness)
            usage = without_local_scheduler(usage)
            sent = sum(1 for _ in Message.by_via.query("outbox"))
            assert sent == 3 * CONTACTS, f"{sent} messages went out, not {3 * CONTACTS}"
            results.append(
                ("funnel message, trigger to provider call", usage, sent, harness.wakeups * 1e-6)
            )
            # The same through a provider instead of the outbox (nothing else changes).
            provider = Provider()
            channels = stack.runtime.dispatcher._channels
            stack.runtime.dispatcher._channels = {**channels, "email": provider}
            harness.wakeups = 0
            usage, _ = messages_scenario(harness, "customer")
            usage = without_local_scheduler(usage)
            assert provider.sent == 3 * CONTACTS, f"{provider.sent} went out"
            label = "  the same, sent through a provider"
            results.append((label, usage, provider.sent, harness.wakeups * 1e-6))
            # What each of those sends brings back later: its provider statuses.
            provider.unreported = []
            usage, statuses = statuses_scenario(harness, provider, key)
            usage = without_local_scheduler(usage)
            assert statuses == len(STATUSES) * 3 * CONTACTS, f"{statuses} statuses posted"
            results.append(("provider status on a sent message", usage, statuses, 0.0))
            # The same with a 20 KB HTML email: its rendered content is on the message.
            provider.sent, provider.unreported = 0, []
            harness.wakeups = 0
            usage, _ = messages_scenario(harness, "html", "joined")
            usage = without_local_scheduler(usage)
            label = "an HTML email (20 KB), through a provider"
            results.append((label, usage, provider.sent, harness.wakeups * 1e-6))
            provider.unreported = []
            usage, statuses = statuses_scenario(harness, provider, key, "opener", "joined")
            usage = without_local_scheduler(usage)
            results.append(("  a provider status on it", usage, statuses, 0.0))
        meter.uninstall()
    finally:
        emulator.stop()
    print("Capacity and cost all-in on DynamoDB Local (units as AWS bills them)")
    print(f"  {'':<46}{'WRU':>7}{'RRU':>7}{'Lambda ms':>10}{'$/million':>10}")
    for label, usage, count, extra in results:
        print(row(label, usage, count, extra))
        if os.environ.get("BENCH_DETAIL"):
            detail(usage, count)
    print(
        f"  budget: <= {BUDGET_EVENT[0]:g} WRU + {BUDGET_EVENT[1]:g} RRU per event, "
        f"<= {BUDGET_MESSAGE[0]:g} WRU + {BUDGET_MESSAGE[1]:g} RRU per message"
    )


if __name__ == "__main__":
    main()
