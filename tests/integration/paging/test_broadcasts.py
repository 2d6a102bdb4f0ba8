"""A broadcast to a 1,000-contact segment as a paged job on DynamoDB Local: opt-outs (of the
channel, of the broadcast's topic), dead addresses and quiet hours in each contact's own time
zone are honoured; invocations are killed on the way (between pages, in the middle of one) and
run out of time; in the end everyone it may reach gets it exactly once, the held ones when their
morning comes, and the job's counts say so. Its progress shows while it runs.

The population is written straight into the tables with batch writes; an invocation's time is
counted in DynamoDB calls (tests/integration/paging/test_paged_jobs.py), so the pages and
invocations are the same on any machine. The sizes keep every kind of moment while staying
fast: an invocation's budget (6 s, 300 calls) holds a small first page and a full page of 100,
1,000 members take ten invocations, four of them killed; `BROADCAST_MEMBERS` and
`BROADCAST_BUDGET` scale it up (5,000 members and 30 s took minutes for the same coverage).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autofunnel.timetravel import Stack
from chalicelib import jobs
from chalicelib.analytics import segment_store
from chalicelib.analytics.contact_stats import CONTACT_SHARDS, shard
from chalicelib.config import Settings
from chalicelib.core.segments import parse_segment
from chalicelib.paging.budget import Budget
from chalicelib.paging.service import PagedJobs
from chalicelib.paging.store import OPEN, JobStore
from chalicelib.paging.view import describe
from chalicelib.runtime.broadcasts import Broadcasts
from chalicelib.runtime.dispatch import STUCK_AFTER
from chalicelib.runtime.scheduler import Wakeup as WakeupDue
from chalicelib.storage.messages import fetch
from chalicelib.storage.models import (
    Contact,
    ContactStats,
    Enrollment,
    Identity,
    Message,
    Wakeup,
)
from tests.integration.paging.faults import CallCounter, Killed

NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)  # 13:30 in Berlin, 21:30 in Tokyo
CALL_SECONDS = 0.02
MEMBERS = int(__import__("os").environ.get("BROADCAST_MEMBERS", 1000))
BUDGET = float(__import__("os").environ.get("BROADCAST_BUDGET", 6))
LEASE_RUNS_OUT = timedelta(minutes=5)
SEGMENT = {"condition": {"attributes": {"vip": True}}}
SALE = {
    "segment": "vips",
    "channel": "email",
    "topic": "promotions",
    "content": {"email": {"subject": "{{ contact.first_name }}, 30% off", "text": "Spring sale"}},
}


class Wall:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@dataclass
class Shop:
    stack: Stack
    wall: Wall
    paged: PagedJobs
    broadcasts: Broadcasts
    calls: CallCounter


@pytest.fixture
def shop(settings: Settings, dynamodb_calls: CallCounter) -> Shop:
    stack = Stack.build(NOW)
    wall = Wall()
    kinds = jobs.kinds(lambda: stack.runtime, stack.clock, lambda: stack.app.connection)
    paged = PagedJobs(kinds, JobStore(wall), clock=stack.clock)
    return Shop(stack, wall, paged, Broadcasts(stack.funnels, paged, stack.clock), dynamodb_calls)


@dataclass(frozen=True)
class Population:
    members: list[str]
    unsubscribed: set[str]  # email switched off
    no_promotions: set[str]  # the broadcast's topic switched off
    dead: set[str]  # the address bounced
    in_tokyo: set[str]  # 21:00 there: quiet hours

    @property
    def reachable(self) -> list[str]:
        out = self.unsubscribed | self.no_promotions | self.dead
        return [cid for cid in self.members if cid not in out]


def populate(members: int, others: int = 50) -> Population:
    """`members` contacts in the segment `vips`, `others` outside it, written in batches."""
    segment_store.save(parse_segment("vips", SEGMENT), SEGMENT["condition"], NOW)
    ids = [f"c{n:05d}" for n in range(members + others)]
    inside = ids[:members]
    unsubscribed = set(inside[3::20])
    no_promotions = set(inside[7::20])
    dead = set(inside[11::50])
    in_tokyo = set(inside[1::50])
    with (
        Contact.batch_write() as contacts,
        Identity.batch_write() as identities,
        ContactStats.batch_write() as stats,
    ):
        for cid in ids:
            consents: dict[str, Any] = {}
            if cid in unsubscribed:
                consents["email"] = {"granted": False}
            if cid in no_promotions:
                consents["topic:promotions"] = {"granted": False}
            member = cid in inside
            contacts.save(
                Contact(
                    contact_id=cid,
                    attributes={"first_name": cid.upper(), "vip": member},
                    consents=consents,
                    timezone="Asia/Tokyo" if cid in in_tokyo else "Europe/Berlin",
                )
            )
            identities.save(
                Identity(
                    f"email:{cid}@example.com",
                    contact_id=cid,
                    kind="email",
                    value=f"{cid}@example.com",
                    created_at=NOW,
                    unreachable=cid in dead,
                )
            )
            stats.save(
                ContactStats(
                    cid,
                    shard=shard(cid, "c", CONTACT_SHARDS),
                    first_seen=NOW - timedelta(days=30),
                    segments={"vips"} if member else None,
                )
            )
    return Population(inside, unsubscribed, no_promotions, dead, in_tokyo)


def drive(
    shop: Shop, job_id: str, kills: dict[int, int], budget: float
) -> tuple[dict[str, Any], int]:
    """Run the job to its end, `budget` seconds an invocation; invocation n of `kills` dies at
    its kills[n]-th DynamoDB call (reading a page, committing it, sending it...), and each of
    them must die (a population too small to reach a kill would test less than it says).
    Returns the job and how often it was seen unfinished between invocations (a progress
    bar's view)."""
    progress_seen = 0
    for invocation in range(10_000):
        try:
            with shop.calls.killing_at(kills.get(invocation)):
                run_budget = Budget(budget, clock=lambda: shop.calls.calls * CALL_SECONDS)
                after = shop.paged.run(job_id, run_budget)
        except Killed:
            shop.wall.now += LEASE_RUNS_OUT.total_seconds()  # the dead invocation's lease ends
            continue
        assert invocation not in kills, f"invocation {invocation} ended before its kill"
        assert after is not None and not after.error, after.error if after else None
        view = describe(after)
        if after.status in OPEN:
            assert 0 < view["progress"] < 1 and view["counts"]["sent"] > 0
            progress_seen += 1
            continue
        assert invocation > max(kills, default=-1), "the job ended before its last kill"
        return view, progress_seen
    raise AssertionError("the broadcast never finished")


def sweep(shop: Shop) -> None:
    job, _ = shop.paged.start(jobs.SWEEPER, shop.stack.clock())
    after = shop.paged.run(job.job_id, Budget(600))
    assert after is not None and after.status == "done", after and describe(after)


def sent_to() -> Counter[str]:
    """How many messages of the broadcast went out to each contact (the outbox: no provider)."""
    sent = fetch(Message.by_via.query("outbox"))
    return Counter(m.contact_id for m in sent if m.funnel == "broadcast-spring")


def wakeup_name(row: Enrollment) -> str:
    """The local scheduler's row of an enrollment's pending wake-up."""
    return WakeupDue(row.contact_id, row.enrollment_key, int(row.wake_token), row.wake_at).name


@pytest.mark.slow
def test_a_broadcast_to_1000_members_survives_kills_and_honours_opt_outs_and_quiet_hours(
    shop: Shop,
) -> None:
    people = populate(MEMBERS)
    view, _ = shop.broadcasts.save("spring", SALE)
    assert view["status"] == "queued"

    # Killed while reading a page, around its commit, while sending it, and pages later.
    kills = {1: 25, 3: 106, 5: 160, 7: 280}
    job, progress_seen = drive(shop, view["job"]["id"], kills, budget=BUDGET)

    skipped = people.unsubscribed | people.no_promotions | people.dead
    held = [cid for cid in people.reachable if cid in people.in_tokyo]
    sent_now = [cid for cid in people.reachable if cid not in people.in_tokyo]
    assert job["status"] == "done" and progress_seen >= 3
    assert job["counts"] == {
        "members": MEMBERS,
        "sent": len(sent_now),
        "held": len(held),
        "skipped": len(skipped),
        "failed": 0,
        "opted_out": len(people.no_promotions - people.unsubscribed - people.dead),
        "unreachable": len(people.unsubscribed | people.dead),
    }
    assert shop.broadcasts.get("spring")["status"] == "done"

    # A send a kill interrupted goes out with the sweeper; at 08:00 in Tokyo, the held ones.
    shop.stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
    sweep(shop)
    shop.stack.advance(timedelta(hours=11))
    assert sent_to() == Counter(people.reachable)
    stats = shop.broadcasts.get("spring")["stats"]
    assert (stats["sent"], stats["waiting"]) == (len(people.reachable), 0)
    assert len(list(Enrollment.query(people.members[0]))) == 1


@pytest.mark.slow
def test_a_broadcast_killed_at_every_call_reaches_each_member_once(shop: Shop) -> None:
    """A clean run counts the job's DynamoDB calls; then, for every other call N (the odd ones:
    half the time, and still every step: reading, committing, sending, checkpointing), a
    broadcast of its own to the same members is killed at its N-th call and resumed: each ends
    like the clean run (counts, one message per member, the held one's wake-up, the figures)."""
    people = populate(6, others=2)
    reached = people.reachable
    held = [cid for cid in reached if cid in people.in_tokyo]

    def run(name: str, kill_at: int | None) -> dict[str, Any]:
        view, _ = shop.broadcasts.save(name, SALE)
        try:
            with shop.calls.killing_at(kill_at):
                shop.paged.run(view["job"]["id"], Budget(60))
        except Killed:
            shop.wall.now += LEASE_RUNS_OUT.total_seconds()
        job, _ = drive(shop, view["job"]["id"], {}, budget=60)
        return job

    before = shop.calls.calls
    clean = run("clean", None)
    calls = shop.calls.calls - before
    assert clean["counts"]["sent"] == len(reached) - len(held) and len(held) == 1
    kills = range(1, calls + 1, 2)
    names = [f"k{n}" for n in kills]
    for n, name in zip(kills, names, strict=True):
        assert run(name, n)["counts"] == clean["counts"], n

    # A send a kill interrupted goes out with the sweeper; each broadcast reached each member
    # once (the held one has its wake-up), and its figures count each once.
    shop.stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
    sweep(shop)
    shop.stack.drain()  # the stream worker folds the broadcasts' tallies into their figures
    outbox = fetch(Message.by_via.query("outbox"))
    for name in ["clean", *names]:
        funnel = f"broadcast-{name}"
        got = Counter(m.contact_id for m in outbox if m.funnel == funnel)
        assert got == Counter(cid for cid in reached if cid not in held), name
        (row,) = [r for r in Enrollment.query(held[0]) if r.funnel == funnel]
        assert Wakeup.get(wakeup_name(row)).due_at, name
        stats = shop.broadcasts.get(name)["stats"]
        assert (stats["sent"], stats["waiting"]) == (len(reached) - 1, 1), (name, stats)
