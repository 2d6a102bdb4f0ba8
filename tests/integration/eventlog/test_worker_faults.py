"""The stream worker killed at each DynamoDB call of a batch in turn, then the batch delivered
again (as Lambda does after a crash or a timeout): every counter, profile total, contact stat
and message ends up exactly as without the kill.

The kill is a BaseException raised at the botocore layer before the N-th call, so no
`except Exception` in the code under test sees it, and the local stream keeps the batch to
deliver again, like an event source mapping. One clean run counts the calls; then a fresh
population per kill point (ids prefixed by N, all set up together first) runs with the kill,
and its figures, taken as differences of the shared counters, must equal the clean run's. The
kill points are dealt over four tests, each with its own clean run, so that test workers share
them.

One window stays, as in any system that sends through a provider without an idempotency key:
killed after the provider took a message and before its result was written, the message is
sent again by the recovery. The test allows exactly that (a kill at the message's write) and
nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from autofunnel.timetravel import Stack
from chalicelib.analytics import counters, keys
from chalicelib.channels.base import OutgoingMessage, PermanentFailure, SendResult
from chalicelib.config import Settings
from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import STATUS, VERIFIED, Entry, message_subject
from chalicelib.runtime.dispatch import STUCK_AFTER
from chalicelib.storage import messages
from chalicelib.storage.models import Contact, ContactStats, Identity, Message
from tests.integration.paging.conftest import dynamodb_calls  # noqa: F401 (fixture)
from tests.integration.paging.faults import CallCounter, CountingProvider, Killed

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: no quiet hours
WELCOME = """
name: welcome_now
trigger: {event: signed_up}
templates:
  hi: {email: {subject: "Welcome", text: "Glad you are here"}}
steps:
  - {id: hello, kind: send, channel: email, template: hi}
"""


@dataclass
class World:
    stack: Stack
    provider: CountingProvider
    calls: CallCounter
    ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**6)))

    def user(self, prefix: str, n: int) -> str:
        return f"{prefix}-u{n}"

    def call(self, user: str, kind: str, name: str, **properties: Any) -> Entry:
        return Entry(
            subject=f"user:{user}",
            event_id=f"e{next(self.ids)}",
            type=kind,
            name=name,
            timestamp=self.stack.clock(),
            properties=properties,
            context={"sessionStart": True} if kind == "page" else {},
            keys=(f"user:{user}",)
            + ((f"email:{properties['email']}",) if "email" in properties else ()),
            trust=VERIFIED,
        )

    def status(self, message_id: str, name: str, **properties: Any) -> Entry:
        return Entry(
            subject=message_subject(message_id),
            event_id=f"s{next(self.ids)}",
            type=STATUS,
            name=name,
            timestamp=self.stack.clock(),
            properties=properties,
            source="test",
            trust=VERIFIED,
        )


@pytest.fixture
def world(settings: Settings, dynamodb_calls: CallCounter) -> World:  # noqa: F811
    provider = CountingProvider()
    stack = Stack.build(AT, channels={"email": provider})
    stack.publish("welcome_now.yaml", WELCOME)
    return World(stack, provider, dynamodb_calls)


def before_the_batches(world: World, prefixes: list[str]) -> dict[str, str]:
    """Two customers per prefix, one already welcomed (its message gets feedback in the batch):
    for every run of a test at once, so the worker handles them in a few deliveries, not two
    per run. Returns each prefix's welcome message."""
    users = [(world.user(prefix, 0), world.user(prefix, 1)) for prefix in prefixes]
    world.stack.append(
        *(
            world.call(u, "identify", "identify", email=f"{u}@example.com")
            for pair in users
            for u in pair
        )
    )
    world.stack.append(*(world.call(u0, "track", "signed_up") for u0, _ in users))
    welcomed = {}
    for prefix, (u0, _) in zip(prefixes, users, strict=True):
        [message] = messages.of_contact(Identity.get(f"user:{u0}").contact_id)
        welcomed[prefix] = str(message.message_id)
    return welcomed


def the_batch(world: World, prefix: str, welcomed: str) -> list[Entry]:
    """One delivery's worth: visits, a sign-up that sends, an order, a new visitor, and the
    provider's feedback on the earlier message (delivered, opened, two clicks)."""
    u1 = world.user(prefix, 1)
    return [
        world.call(u1, "page", "page_viewed", url="https://shop.example/p/1"),
        world.call(u1, "page", "page_viewed", url="https://shop.example/p/2"),
        world.call(u1, "track", "signed_up"),
        world.call(u1, "track", "order_completed", order_id=f"{prefix}-o1", total=49.9),
        world.call(f"{prefix}-new", "page", "page_viewed", url="https://shop.example/"),
        world.status(welcomed, "delivered"),
        world.status(welcomed, "opened"),
        world.status(welcomed, "clicked", url="https://shop.example/p/1", count_click=True),
        world.status(welcomed, "clicked", url="https://shop.example/p/1", count_click=True),
    ]


SCOPES = (
    keys.day_scope(AT),
    keys.COHORTS_SCOPE,
    keys.TEMPLATES_SCOPE,
    keys.funnel_scope("welcome_now", 1),
)


def figures(welcomed: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for scope in (*SCOPES, f"message#{welcomed}"):
        for metric, value in counters.read(scope).items():
            found[f"{scope.split('#')[0]}|{metric}"] = value
    return found


def outcome(world: World, prefix: str, welcomed: str, before: dict[str, float]) -> dict[str, Any]:
    """Everything a kill could lose or double, as the batch left it."""
    after = figures(welcomed)
    delta = {
        key: Decimal(str(value)) - Decimal(str(before.get(key, 0)))
        for key, value in after.items()
        if value != before.get(key, 0)
    }
    people = {}
    for n in (0, 1):
        contact_id = Identity.get(f"user:{world.user(prefix, n)}").contact_id
        contact = Contact.get(contact_id)
        stats = ContactStats.get(contact_id)
        sent = [(m.step_id, m.status) for m in messages.of_contact(contact_id)]
        people[n] = (
            int(contact.page_views),
            int(contact.sessions),
            int(contact.orders_count),
            Decimal(str(contact.total_spent)),
            int(stats.orders),
            Decimal(str(stats.revenue)),
            sorted(sent),
        )
    welcomed_statuses = sorted(
        str(entry["status"]) for entry in Message.get(welcomed).status_history or ()
    )
    provider_calls = sorted(world.provider.sent[m] for m in _messages_of(prefix))
    return {
        "figures": delta,
        "people": people,
        "statuses": welcomed_statuses,
        "provider": provider_calls,
    }


def _messages_of(prefix: str) -> list[str]:
    found = []
    for n in (0, 1):
        contact_id = Identity.get(f"user:{prefix}-u{n}").contact_id
        found += [str(m.message_id) for m in messages.of_contact(contact_id)]
    return found


def run(
    world: World, prefix: str, welcomed: str, kill_at: int | None
) -> tuple[dict[str, Any], int, str]:
    """The batch of `prefix`'s customers (set up by `before_the_batches`) handled with the
    worker killed at call `kill_at`, then delivered again; a send the kill left unrecorded is
    recovered by the sweeper, as on AWS. Returns (the outcome, the DynamoDB calls of the first
    delivery, where the kill happened, if it did)."""
    before = figures(welcomed)
    append(the_batch(world, prefix, welcomed), world.stack.clock())
    killed = ""
    start = world.calls.calls
    try:
        with world.calls.killing_at(kill_at):
            world.stack.drain()
    except Killed as kill:
        killed = str(kill)
    used = world.calls.calls - start
    world.stack.drain()  # the stream delivers the batch again
    world.stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
    world.stack.run_job("sweeper")  # a send a kill interrupted
    world.stack.clock.now = AT
    return outcome(world, prefix, welcomed, before), used, killed


# The kill points are dealt over a few tests (call n to part n % PARTS), each with its own clean
# run: together they still kill at every call, and pytest-xdist can run them side by side.
PARTS = 4


@pytest.mark.parametrize("part", range(PARTS))
def test_a_batch_killed_at_every_dynamodb_call_ends_as_if_never_killed(
    world: World, part: int
) -> None:
    clean, calls, _ = run(world, "clean", before_the_batches(world, ["clean"])["clean"], None)
    assert clean["provider"] == [1, 1]  # the welcome of u0 before, and u1's in the batch
    assert clean["people"][1][:6] == (2, 2, 1, Decimal("49.9"), 1, Decimal("49.9"))
    assert clean["figures"]["message|clicks"] == 2
    assert calls > 40
    kill_points = [n for n in range(1, calls + 1) if n % PARTS == part]
    welcomed = before_the_batches(world, [f"k{n}" for n in kill_points])
    killed, resent = 0, []
    for n in kill_points:
        result, _, was_killed = run(world, f"k{n}", welcomed[f"k{n}"], n)
        killed += bool(was_killed)
        if result["provider"] != clean["provider"]:
            # Killed after the provider took the message, while its answer was being recorded:
            # the recovery sends it again. Only a provider-side idempotency key could stop it.
            assert max(result["provider"]) == 2, (n, result["provider"])
            assert " messages " in was_killed, (n, was_killed)
            result["provider"] = clean["provider"]
            resent.append(was_killed)
        for part in ("figures", "people", "statuses", "provider"):
            assert result[part] == clean[part], (n, part)
    assert killed >= len(kill_points) - 2
    assert len(resent) <= 2, resent  # the result's write (and its re-read after a conflict)


class RefusingProvider(CountingProvider):
    """A provider that refuses every message for good (a rejected address, a banned sender)."""

    def send(self, message: OutgoingMessage) -> SendResult:
        self.sent[message.message_id] += 1
        raise PermanentFailure("550 mailbox unavailable")


def test_a_send_refused_for_good_counts_as_failed_in_the_step_and_template_figures(
    settings: Settings,
) -> None:
    provider = RefusingProvider()
    stack = Stack.build(AT, channels={"email": provider})
    stack.publish("welcome_now.yaml", WELCOME)
    world = World(stack, provider, CallCounter())
    scope = keys.funnel_scope("welcome_now", 1)
    before = counters.read(scope)
    stack.append(world.call("f-u1", "identify", "identify", email="f-u1@example.com"))
    stack.append(world.call("f-u1", "track", "signed_up"))
    [message] = messages.of_contact(Identity.get("user:f-u1").contact_id)
    assert message.status == "failed"
    after = counters.read(scope)
    assert after["step#hello#sent"] - before.get("step#hello#sent", 0) == 1
    assert after["step#hello#failed"] - before.get("step#hello#failed", 0) == 1
    template = counters.read(keys.TEMPLATES_SCOPE)
    assert template["welcome_now:hi#email#failed"] >= 1
