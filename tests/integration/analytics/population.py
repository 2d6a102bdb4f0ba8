"""Known populations built through the real ingest API (`POST /v1/batch`), shared by the
analytics integration tests and the dashboard's browser test."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice.test import Client

from autofunnel.timetravel import Stack
from chalicelib import jobs
from chalicelib.eventlog.entry import STATUS, VERIFIED, Entry, message_subject
from chalicelib.storage import messages as message_store
from chalicelib.storage.models import Identity
from tests.conftest import SERVER_KEY

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin: no quiet hours
BATCH = 100


@dataclass
class World:
    api: Client
    stack: Stack
    sent: int = field(default=0)

    @property
    def now(self) -> datetime:
        return self.stack.clock.now

    def batch(self, calls: list[dict[str, Any]]) -> list[bytes]:
        """Send calls through the Segment-compatible batch API, stamped with the fake clock;
        returns the request bodies (to replay them)."""
        bodies = []
        for start in range(0, len(calls), BATCH):
            chunk = []
            for call in calls[start : start + BATCH]:
                self.sent += 1
                chunk.append(
                    {
                        "messageId": f"m-{self.sent}-{uuid.uuid4().hex[:6]}",
                        "timestamp": self.now.isoformat(),
                        **call,
                    }
                )
            bodies.append(json.dumps({"batch": chunk}).encode())
            self.post(bodies[-1])
        return bodies

    def post(self, body: bytes) -> Any:
        # The shop's backend reports (a server key): its orders count, its identifies link.
        token = base64.b64encode(f"{SERVER_KEY}:".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        response = self.api.http.post("/v1/batch", headers=headers, body=body)
        assert response.status_code == 200, response.body
        assert "errors" not in response.json_body, response.json_body
        return response.json_body

    def track(self, user: str, event: str, **properties: Any) -> dict[str, Any]:
        return {"type": "track", "userId": user, "event": event, "properties": properties}

    def advance(self, delta: timedelta) -> None:
        self.stack.advance(delta)

    def contact_id(self, user: str) -> str:
        return str(Identity.get(f"user:{user}").contact_id)

    def react(self, step_id: str, statuses: dict[str, str]) -> None:
        """A provider reports each user's status for their message of `step_id`: what its
        webhook appends to the log, then the worker, all in one delivery (as a provider's
        batched webhook and the stream would hand them over)."""
        entries = []
        for user, status in statuses.items():
            [message] = [
                m for m in message_store.of_contact(self.contact_id(user)) if m.step_id == step_id
            ]
            entries.append(
                Entry(
                    subject=message_subject(message.message_id),
                    event_id=f"{status}:{uuid.uuid4().hex}",
                    type=STATUS,
                    name=status,
                    timestamp=self.now,
                    source="test",
                    trust=VERIFIED,
                )
            )
        self.stack.append(*entries)

    def run_job(self, path: str, headers: dict[str, str], body: Any = None) -> Any:
        """Start a job through the admin API (202 and its status route), run the open jobs to
        their end as the job runner would, and return the finished job."""
        if body is None:
            started = self.api.http.post(path, headers=headers)
        else:
            started = self.api.http.put(
                path,
                headers={**headers, "Content-Type": "application/json"},
                body=json.dumps(body).encode(),
            )
        assert started.status_code == 202, started.body
        job = started.json_body.get("job", started.json_body)
        assert started.headers["Location"] == job["status_url"] == f"/admin/jobs/{job['id']}"
        jobs.drain()
        self.stack.drain()  # what the job appended to the log reaches analytics and funnels
        finished = self.admin(job["status_url"], headers)
        assert finished["status"] == "done", finished
        return {**started.json_body, "job": finished}

    def admin(self, path: str, headers: dict[str, str]) -> Any:
        response = self.api.http.get(path, headers=headers)
        assert response.status_code == 200, response.body
        return response.json_body


# --- the shop population: 200 visitors, 100 carts, 50 orders --------------------------------

SOURCES = [("google", "spring", 100), ("newsletter", "may", 60), (None, None, 40)]
GROUP_A = range(0, 10)  # order 10 minutes after the cart, before any reminder: 40.00 each
GROUP_B = range(10, 30)  # open reminder 1 (8 of them click), order 2 h after the cart: 59.90
GROUP_C = range(30, 45)  # order a day later after reminder 2 (5 clicked it): 80.50
GROUP_D = range(45, 50)  # order on day 10, after the funnel's 7-day goal window: 100.00
CARTS = 100  # the 50 buyers and 50 carts abandoned for good
VISITORS = 200  # the 100 with a cart and 100 who only look


def visitor(n: int) -> str:
    return f"visitor-{n:04d}"


def page(world: World, n: int) -> dict[str, Any]:
    source, campaign = _source_of(n)
    url = "https://shop.example.com/"
    if source:
        url += f"?utm_source={source}&utm_medium=cpc&utm_campaign={campaign}"
    return {"type": "page", "userId": visitor(n), "name": "Home", "properties": {"url": url}}


def _source_of(n: int) -> tuple[str | None, str | None]:
    for source, campaign, count in SOURCES:
        if n < count:
            return source, campaign
        n -= count
    raise ValueError(n)


def shop_population(world: World, visitors: int = VISITORS, carts: int = CARTS) -> None:
    """Builds the population the analytics tests and the dashboard test assert on.

    Visitors are interleaved over the sources (half google, 3 in 10 newsletter, a fifth direct)
    so that carts and orders spread over them: visitor n's source is SOURCES by (n * 7) % 200
    — see `source_of`.
    `visitors` (at least `carts`) leaves out the ones who only looked, for a test that does not
    read the cohorts or the day's contacts (they show nowhere else); fewer `carts` (at least
    the 50 buyers) leaves out carts abandoned for good, for a test that reads only a funnel's
    shape (each costs three reminders)."""
    assert GROUP_D.stop <= carts <= visitors <= VISITORS
    world.stack.publish("abandoned_cart.yaml")
    world.batch([page(world, _slot(n)) | {"userId": visitor(n)} for n in range(visitors)])
    world.batch(
        [
            {
                "type": "identify",
                "userId": visitor(n),
                "traits": {"email": f"{visitor(n)}@example.com", "first_name": f"V{n}"},
            }
            for n in range(carts)
        ]
    )
    cart = {"items_count": 2, "total": 100.0, "currency": "EUR"}
    world.batch([world.track(visitor(n), "cart_updated", **cart) for n in range(carts)])

    world.advance(timedelta(minutes=10))
    world.batch([world.track(visitor(n), "order_completed", total=40) for n in GROUP_A])
    world.advance(timedelta(minutes=21))  # reminder 1 went out at +30 min to the other 190
    world.react("reminder_1", {visitor(n): "delivered" for n in range(10, carts)})
    world.advance(timedelta(minutes=29))  # +1 h
    world.react("reminder_1", {visitor(n): "clicked" if n < 18 else "opened" for n in GROUP_B})
    world.advance(timedelta(hours=1))  # +2 h
    world.batch([world.track(visitor(n), "order_completed", total=59.9) for n in GROUP_B])
    world.advance(timedelta(days=1) - timedelta(minutes=60))  # +1 d 1 h: reminder 2 at +1 d 30 min
    world.react("reminder_2", {visitor(n): "clicked" for n in list(GROUP_C)[:5]})
    world.advance(timedelta(hours=1))  # +1 d 2 h
    world.batch([world.track(visitor(n), "order_completed", total="80.50") for n in GROUP_C])
    world.advance(timedelta(days=9) - timedelta(hours=2))  # +10 d: reminder 3 and the window passed
    world.batch([world.track(visitor(n), "order_completed", revenue=100) for n in GROUP_D])


def _slot(n: int) -> int:
    """Which source slot visitor n takes: spreads the sources evenly over visitor numbers."""
    return (n * 7) % VISITORS


def source_of(n: int) -> str:
    source, _ = _source_of(_slot(n))
    return source or "direct"


def campaign_of(n: int) -> str:
    _, campaign = _source_of(_slot(n))
    return campaign or ""
