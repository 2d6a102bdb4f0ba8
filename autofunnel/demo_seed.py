"""`make run`'s demo data: on the first start, a month of a small shop's life goes through the
real ingest API and the real runtime (time moved by hand), so a new user opens a populated
dashboard at once. Skip it with AUTOFUNNEL_NO_DEMO=1 or `autofunnel dev --no-demo`.

What it builds (seeded random, so every first start looks the same): ~100 visitors from four
sources over 14 days, carts and orders through the abandoned-cart funnel with opens and clicks,
popup sign-ups through the welcome chain, 30 returning customers with a year of orders scored by
RFM (the at-risk and lost ones enter the win-back funnel), and a saved segment.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from autofunnel.timetravel import Stack
from chalicelib import jobs, wiring
from chalicelib.analytics import keys, segment_store
from chalicelib.core.segments import parse_segment
from chalicelib.eventlog.entry import STATUS, VERIFIED, Entry, message_subject
from chalicelib.storage import messages as message_store
from chalicelib.storage.models import Counter, Identity

PROJECT_DIR = Path(__file__).resolve().parent.parent
SKIP_VARIABLE = "AUTOFUNNEL_NO_DEMO"
MARKER = ("demo", "seeded")
DAYS = 14
SOURCES = [("google", "winter_sale", 4), ("newsletter", "weekly", 2), ("instagram", "reels", 2)]
SOURCES += [(None, None, 2)]  # direct visits
CATEGORIES = ["shoes", "bags", "shirts"]
CUSTOMERS = 30  # returning customers with a year of orders: the RFM grid
SHOE_BROWSERS = {
    "description": "viewed shoes twice in 7 days and no order",
    "condition": {
        "all": [
            {
                "event": "product_viewed",
                "where": {"category": "shoes"},
                "within": "7d",
                "at_least": 2,
            },
            {"not": {"event": "order_completed"}},
        ]
    },
}


def skipped() -> bool:
    return os.environ.get(SKIP_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def seed_on_first_start() -> None:
    """The devstack's hook: seed once per data folder, unless told not to."""
    if skipped():
        print(f"Demo data: skipped ({SKIP_VARIABLE}=1)", flush=True)
        return
    if _seeded():
        return
    print(
        f"Seeding demo data (first start only; {SKIP_VARIABLE}=1 or --no-demo skips it)...",
        flush=True,
    )
    began = time.monotonic()
    try:
        summary = seed(datetime.now(UTC))
    except Exception as error:  # the stack still starts; the next start tries again
        print(f"Demo data failed ({error!r}); starting without it", flush=True)
        return
    Counter(scope=MARKER[0], metric=MARKER[1], value=1).save()
    print(f"Demo data: {summary} in {time.monotonic() - began:.0f} s", flush=True)


def _seeded() -> bool:
    """Seeded before, or a data folder that already holds analytics: never seed over real data."""
    if list(Counter.query(MARKER[0], Counter.metric == MARKER[1])):
        return True
    return bool(list(Counter.query(keys.COHORTS_SCOPE, limit=1)))


@dataclass
class Shop:
    """The shop's visitors and the calls they make, sent through the ingest API."""

    stack: Stack
    rng: random.Random
    client: Any
    sent: int = 0
    visitors: int = 0
    carts: list[tuple[str, datetime]] = field(default_factory=list)
    orders: int = 0

    @property
    def now(self) -> datetime:
        return self.stack.clock.now

    def send(self, calls: list[dict[str, Any]], server: bool = False) -> None:
        """Through the tracking API: the site's calls with its write key; the shop's backend's
        (orders, customers) with a server key, so that they count."""
        if server:
            key = (os.environ.get("AUTOFUNNEL_SERVER_KEYS") or "dev-server-key").split(",")[0]
        else:
            key = os.environ.get("AUTOFUNNEL_WRITE_KEY", "dev-write-key")
        token = base64.b64encode(f"{key}:".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        for start in range(0, len(calls), 100):
            batch = []
            for call in calls[start : start + 100]:
                self.sent += 1
                batch.append(
                    {"messageId": f"demo-{self.sent}", "timestamp": self.now.isoformat(), **call}
                )
            response = self.client.http.post(
                "/v1/batch", headers=headers, body=json.dumps({"batch": batch}).encode()
            )
            if response.status_code != 200:
                raise RuntimeError(f"demo ingest failed: {response.body!r}")
        self.stack.drain()

    def day(self) -> None:
        calls: list[dict[str, Any]] = []
        carted = []
        for _ in range(self.rng.randint(5, 9)):
            self.visitors += 1
            user = f"demo-visitor-{self.visitors:04d}"
            calls.append(_page(user, self._source()))
            if self.rng.random() < 0.3:
                calls += self._view(user, 2 if self.rng.random() < 0.4 else 1)
            if self.rng.random() < 0.3:
                carted.append(user)
                calls.append(_identify(user))
                total = self.rng.choice([39.0, 59.9, 89.0, 120.0, 149.5])
                calls.append(
                    _track(user, "cart_updated", items_count=2, total=total, currency="EUR")
                )
            elif self.rng.random() < 0.12:
                calls.append(_identify(user))
                calls.append(_track(user, "lead_captured", source="popup"))
        self.send(calls)
        self.carts += [(user, self.now) for user in carted]

    def _view(self, user: str, times: int) -> list[dict[str, Any]]:
        category = "shoes" if self.rng.random() < 0.6 else self.rng.choice(CATEGORIES)
        return [_track(user, "product_viewed", category=category) for _ in range(times)]

    def _source(self) -> tuple[str | None, str | None]:
        weights = [w for _, _, w in SOURCES]
        source, campaign, _ = self.rng.choices(SOURCES, weights)[0]
        return source, campaign

    def buy(self, chance: float, since: timedelta) -> None:
        """Some of the carts left within `since` are checked out now."""
        buyers = [
            u for u, at in self.carts if self.now - at <= since and self.rng.random() < chance
        ]
        self.carts = [(u, at) for u, at in self.carts if u not in buyers]
        self.orders += len(buyers)
        calls = []
        for u in buyers:  # the site funnel's checkout stage, then the order
            calls.append(_track(u, "checkout_started"))
            calls.append(
                _track(u, "order_completed", total=self.rng.choice([39.0, 59.9, 89.0, 120.0]))
            )
        self.send(calls, server=True)

    def react(self, since: datetime) -> None:
        """Providers report deliveries, opens and clicks of the messages sent since `since`."""
        news: list[Entry] = []
        for message in message_store.sent_via("outbox", 500):
            if message.created_at < since or message.channel == "webhook":
                continue
            # Each message's own dice: the outbox lists messages of the same second in the order
            # of their ids, which derive from random contact ids; the shop's dice would then be
            # thrown in a different order at every start, and every later day would differ.
            dice = random.Random(
                f"{message.address}|{message.funnel}|{message.step_id}|{message.created_at}"
            )
            if dice.random() < 0.95:
                news.append(self._status(message.message_id, "delivered"))
                roll = dice.random()
                if roll < 0.12:
                    news.append(self._status(message.message_id, "clicked"))
                elif roll < 0.4:
                    news.append(self._status(message.message_id, "opened"))
        self.stack.append(*news)

    def _status(self, message_id: str, status: str) -> Entry:
        """What a provider's webhook would append (the demo's messages go to the outbox)."""
        return Entry(
            subject=message_subject(message_id),
            event_id=f"demo:{status}",
            type=STATUS,
            name=status,
            timestamp=self.now,
            source="demo",
            trust=VERIFIED,
        )


def seed(end: datetime) -> str:
    from chalice.test import Client

    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))  # app.py lives beside the package, as for chalice
    from app import app

    rng = random.Random(20261123)
    real = wiring.app()
    # Nothing publishes or pauses a funnel while the seed runs (the devstack publishes first):
    # the funnel index is read once, not again for every event (900 Queries of 10,500).
    stack = Stack.build(end - timedelta(days=DAYS), funnel_index_ttl=3600)
    with _restored(real), Client(app, stage_name="local") as client:
        shop = Shop(stack, rng, client)
        _returning_customers(shop)
        segment_store.save(
            parse_segment("shoe_browsers", SHOE_BROWSERS), SHOE_BROWSERS["condition"], shop.now
        )
        for _ in range(DAYS):
            morning = shop.now
            shop.day()
            stack.advance(timedelta(hours=2))
            shop.buy(0.15, timedelta(hours=3))
            stack.advance(timedelta(hours=6))
            shop.react(morning)
            shop.buy(0.1, timedelta(days=3))
            stack.advance(timedelta(hours=16))
        stack.advance(end - shop.now)
        jobs.start(jobs.RFM)
        jobs.start(jobs.SEGMENT_RECHECKS)
        ran = {job["kind"]: job for job in jobs.drain()}
        stack.drain()  # the jobs' events (segment changes) reach analytics and the funnels
    buyers = ran[jobs.RFM]["counts"]["buyers"]
    return f"{shop.visitors} visitors, {shop.orders} cart orders, {buyers} buyers scored by RFM"


def _returning_customers(shop: Shop) -> None:
    """Customers with up to a year of orders before the fortnight starts: the RFM grid."""
    calls: list[dict[str, Any]] = []
    for n in range(CUSTOMERS):
        user = f"demo-customer-{n:02d}"
        calls.append(_identify(user))
        orders = shop.rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 9])
        last = shop.rng.randint(0, 360)
        for k in range(orders):
            at = shop.now - timedelta(days=last + 20 * k, hours=shop.rng.randint(0, 10))
            value = shop.rng.choice([25.0, 49.0, 79.9, 120.0, 240.0])
            call = _track(user, "order_completed", total=value)
            calls.append({**call, "timestamp": at.isoformat()})
    shop.send(calls, server=True)


@contextlib.contextmanager
def _restored(real: wiring.App) -> Iterator[None]:
    """The time-travel stack is the application while seeding; then the real one again."""
    try:
        yield
    finally:
        wiring.install(real)


def _page(user: str, source: tuple[str | None, str | None]) -> dict[str, Any]:
    url = "https://shop.example.com/"
    if source[0]:
        url += f"?utm_source={source[0]}&utm_medium=cpc&utm_campaign={source[1]}"
    return {"type": "page", "userId": user, "name": "Home", "properties": {"url": url}}


def _identify(user: str) -> dict[str, Any]:
    name = user.rsplit("-", 1)[-1]
    return {
        "type": "identify",
        "userId": user,
        "traits": {"email": f"{user}@example.com", "first_name": f"Guest {name}"},
    }


def _track(user: str, event: str, **properties: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": event, "properties": properties}


def contact_of(user: str) -> str:
    return str(Identity.get(f"user:{user}").contact_id)
