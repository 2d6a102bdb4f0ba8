"""RFM, date triggers and a segment backfill as paged jobs over populations that one invocation
(a 2 s budget) cannot finish, on DynamoDB Local, with invocations killed on the way: between
two pages, and at arbitrary DynamoDB calls in the middle of one. Every contact is handled
exactly once: one score, one event (appended to the log once: the stream hands it to the worker
once), one enrollment and message, one count.

An invocation's time is counted in DynamoDB calls at 20 ms each (a round trip on AWS, where
DynamoDB Local on a laptop answers in a few): the same pages and invocations on any machine.

The populations are written straight into the tables with batch writes (the ingest path would
take minutes); each test checks every contact afterwards.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autofunnel.demo_seed import SHOE_BROWSERS
from autofunnel.timetravel import Stack
from chalicelib import jobs
from chalicelib.analytics import counters, keys, segment_store
from chalicelib.analytics.contact_stats import BUYER_SHARDS, CONTACT_SHARDS, shard
from chalicelib.config import Settings
from chalicelib.core import rfm
from chalicelib.core.segments import RFM_SEGMENT_CHANGED, parse_segment
from chalicelib.eventlog.entry import contact_subject
from chalicelib.paging.budget import Budget
from chalicelib.paging.service import PagedJobs
from chalicelib.paging.store import OPEN, JobStore
from chalicelib.paging.view import describe
from chalicelib.runtime.dispatch import STUCK_AFTER
from chalicelib.storage import messages
from chalicelib.storage.models import (
    Contact,
    ContactStats,
    DateMark,
    Enrollment,
    Event,
    Identity,
)
from tests.integration.paging.faults import CallCounter, Killed

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BUDGET = 2.0  # seconds per invocation
CALL_SECONDS = 0.02  # what one DynamoDB call costs an invocation's budget here
LEASE_RUNS_OUT = timedelta(minutes=5)
BUYERS = 300
CONTACTS = 400
DUE = 75  # enough that the job needs several invocations (kills and budgets both hit it)
BIRTHDAY = """
name: birthday
trigger: {date: {attribute: birthday, annual: true}}
reentry: {policy: once_per_period, period: 300d}
templates:
  gift: {email: {subject: "Happy birthday, {{ contact.first_name }}!", text: "A gift inside"}}
steps:
  - {id: gift, kind: send, channel: email, template: gift}
"""


class Wall:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    stack: Stack
    wall: Wall
    paged: PagedJobs
    calls: CallCounter
    rng: random.Random = field(default_factory=lambda: random.Random(12))


@dataclass(frozen=True)
class Run:
    job: dict[str, Any]
    killed: int


@pytest.fixture
def env(settings: Settings, dynamodb_calls: CallCounter) -> Env:
    stack = Stack.build(NOW)
    wall = Wall()
    kinds = jobs.kinds(lambda: stack.runtime, stack.clock, lambda: stack.app.connection)
    return Env(stack, wall, PagedJobs(kinds, JobStore(wall)), dynamodb_calls)


def faults(env: Env) -> Iterator[Callable[[], AbstractContextManager[None]]]:
    """Every other invocation is killed for a while: right after a checkpoint (between two
    pages) or at a random call inside a page; then none."""
    for _ in range(3):
        yield lambda: env.calls.killing_after_job_writes(2)
        yield nullcontext
        call = env.rng.randint(3, int(BUDGET / CALL_SECONDS) - 10)  # within the invocation
        yield lambda call=call: env.calls.killing_at(call)
        yield nullcontext
    while True:
        yield nullcontext


def drive(
    env: Env,
    kind: str,
    params: dict[str, Any] | None = None,
    kills: bool = True,
    job_id: str | None = None,
) -> Run:
    """Run the job (a new one, or `job_id`) to its end, one 2 s invocation at a time, killing
    some of them."""
    job = (
        env.paged.store.get(job_id)
        if job_id
        else env.paged.start(kind, env.stack.clock(), params)[0]
    )
    assert job is not None
    killed = out_of_time = 0
    plan = faults(env) if kills else iter(lambda: nullcontext, None)
    for _ in range(10_000):
        try:
            with next(plan)():
                budget = Budget(BUDGET, clock=lambda: env.calls.calls * CALL_SECONDS)
                after = env.paged.run(job.job_id, budget)
        except Killed:
            killed += 1
            env.wall.now += LEASE_RUNS_OUT.total_seconds()  # the dead invocation's lease ends
            continue
        assert after is not None and not after.error, after.error if after else None
        if after.status in OPEN:
            out_of_time += 1  # a whole invocation's budget was not enough
            continue
        view = describe(after)
        assert view["status"] == "done"
        if kills:  # and invocations that ran out of time: one could not do it all
            assert killed >= 4 and out_of_time >= 4, (killed, out_of_time)
        return Run(view, killed)
    raise AssertionError("the job never finished")


def stats_of(ids: Sequence[str]) -> dict[str, ContactStats]:
    return {row.contact_id: row for row in ContactStats.batch_get(list(ids))}


def contacts_of(ids: Sequence[str]) -> dict[str, Contact]:
    return {row.contact_id: row for row in Contact.batch_get(list(ids))}


def events_named(contact_id: str, name: str) -> list[Event]:
    """What the jobs appended to the log about the contact (each is one stream record)."""
    return [e for e in Event.query(contact_subject(contact_id)) if e.name == name]


def viewed_shoes(cid: str, at: datetime, event_id: str) -> Event:
    """A past `product_viewed` in the contact's log (as the worker files derived events)."""
    return Event(
        contact_subject(cid),
        event_id,
        type="track",
        name="product_viewed",
        properties={"category": "shoes"},
        timestamp=at,
        received_at=at,
    )


# --- RFM ---------------------------------------------------------------------------------


def write_buyers(env: Env, count: int) -> list[rfm.Buyer]:
    buyers = []
    with ContactStats.batch_write() as stats, Contact.batch_write() as contacts:
        for n in range(count):
            cid = f"b{n:05d}"
            orders = env.rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 9])
            buyer = rfm.Buyer(
                cid,
                orders,
                round(orders * env.rng.choice([19.9, 25, 49, 79.9, 120]), 2),
                NOW - timedelta(days=env.rng.randint(0, 700), hours=env.rng.randint(1, 20)),
            )
            buyers.append(buyer)
            contacts.save(Contact(contact_id=cid, attributes={"first_name": f"B{n}"}))
            stats.save(
                ContactStats(
                    cid,
                    shard=shard(cid, "c", CONTACT_SHARDS),
                    first_seen=NOW - timedelta(days=800),
                    orders=buyer.orders,
                    revenue=buyer.revenue,
                    last_order_at=buyer.last_order_at,
                    buyer_shard=shard(cid, "b", BUYER_SHARDS),
                )
            )
    return buyers


def test_rfm_scores_every_buyer_once_across_killed_invocations(env: Env) -> None:
    buyers = write_buyers(env, BUYERS)
    expected = rfm.score_all(buyers, NOW)  # the pure scoring over everyone at once
    run = drive(env, jobs.RFM)

    assert run.job["counts"] == {"measured": BUYERS, "buyers": BUYERS, "changed": BUYERS}
    ids = [b.contact_id for b in buyers]
    stats, contacts = stats_of(ids), contacts_of(ids)
    for buyer in buyers:
        want, got = expected[buyer.contact_id], stats[buyer.contact_id].rfm.as_dict()
        assert (got["r"], got["f"], got["m"]) == (want.r, want.f, want.m), buyer
        assert got["segment"] == want.segment and got["job"] == run.job["id"]
        assert contacts[buyer.contact_id].attributes["rfm_segment"] == want.segment
    changes = [len(events_named(cid, RFM_SEGMENT_CHANGED)) for cid in ids]
    assert changes == [1] * BUYERS  # appended once each: the worker gets each once
    grid = counters.read(keys.RFM_SCOPE)
    per_segment = Counter(score.segment for score in expected.values())
    assert {s: grid[f"segment#{s}#count"] for s in per_segment} == dict(per_segment)
    assert grid["buyers"] == BUYERS


# --- date triggers -----------------------------------------------------------------------


def test_date_triggers_enroll_and_email_each_contact_once_across_killed_invocations(
    env: Env,
) -> None:
    env.stack.publish("birthday.yaml", BIRTHDAY)
    today = f"{NOW:%m-%d}"
    due = [f"d{n:04d}" for n in range(DUE)]
    moved = [f"m{n:03d}" for n in range(20)]  # marked for today, birthday changed since
    with (
        Contact.batch_write() as contacts,
        Identity.batch_write() as identities,
        DateMark.batch_write() as marks,
    ):
        for cid in due + moved:
            birthday = f"1990-{today}" if cid in due else "1990-01-01"
            contacts.save(
                Contact(contact_id=cid, attributes={"first_name": cid, "birthday": birthday})
            )
            identities.save(
                Identity(
                    f"email:{cid}@example.com",
                    contact_id=cid,
                    kind="email",
                    value=f"{cid}@example.com",
                    created_at=NOW,
                )
            )
            marks.save(DateMark(f"birthday#{today}", cid))

    run = drive(env, jobs.DATE_TRIGGERS)

    assert run.job["counts"] == {"checked": DUE + len(moved), "entered": DUE}
    env.stack.clock.now += STUCK_AFTER + timedelta(seconds=1)  # a send a kill interrupted
    drive(env, jobs.SWEEPER, kills=False)
    for cid in due:
        assert [row.funnel for row in Enrollment.query(cid)] == ["birthday"], cid
        sent = [(m.step_id, m.status) for m in messages.of_contact(cid)]
        assert sent == [("gift", "sent")], cid
    assert all(list(Enrollment.query(cid)) == [] for cid in moved)
    # The hourly job runs again an hour later: nobody enters twice.
    env.stack.clock.now = NOW + timedelta(hours=1)
    again = drive(env, jobs.DATE_TRIGGERS, kills=False)
    assert again.job["counts"] == {"checked": DUE + len(moved), "entered": 0}


# --- a saved segment's backfill ----------------------------------------------------------


def test_a_segment_backfill_evaluates_every_contact_once_across_killed_invocations(
    env: Env,
) -> None:
    members = set()
    with (
        ContactStats.batch_write() as stats,
        Contact.batch_write() as contacts,
        Event.batch_write() as events,
    ):
        for n in range(CONTACTS):
            cid = f"c{n:05d}"
            contacts.save(Contact(contact_id=cid, attributes={"first_name": f"C{n}"}))
            stats.save(
                ContactStats(
                    cid, shard=shard(cid, "c", CONTACT_SHARDS), first_seen=NOW - timedelta(days=9)
                )
            )
            if env.rng.random() < 0.3:  # viewed shoes twice in the last days
                members.add(cid)
                for hours in (5, 30):
                    at = NOW - timedelta(hours=hours)
                    events.save(viewed_shoes(cid, at, f"v{hours}"))
    definition = parse_segment("shoe_browsers", SHOE_BROWSERS)
    segment_store.save(definition, SHOE_BROWSERS["condition"], NOW)

    run = drive(env, jobs.SEGMENT_BACKFILL, {"segment": "shoe_browsers"})

    count = len(members)
    assert run.job["counts"] == {"evaluated": CONTACTS, "entered": count, "left": 0}
    ids = [f"c{n:05d}" for n in range(CONTACTS)]
    stats = stats_of(ids)
    assert {cid for cid in ids if stats[cid].segments} == members
    assert all(stats[cid].segments == {"shoe_browsers"} for cid in members)
    contacts = contacts_of(sorted(members))
    assert all(contacts[cid].attributes["segments"] == ["shoe_browsers"] for cid in members)
    entered = [len(events_named(cid, "segment_entered")) for cid in sorted(members)]
    assert entered == [1] * count
    assert counters.read(keys.segment_scope("shoe_browsers"))["members"] == count
    day = counters.read(keys.segment_day_scope(NOW))
    assert day[keys.segment_day_metric(NOW, "shoe_browsers", "entered")] == count
    # Every member's window closes when its views turn 7 days old: they are due a recheck.
    assert all(stats[cid].recheck_at is not None for cid in members)


# --- killed at every DynamoDB call, on small populations ---------------------------------


def killed_at_every_call(
    env: Env,
    kind: str,
    write: Callable[[str], list[str]],
    check: Callable[[list[str], dict[str, Any]], None],
    forget: Callable[[list[str]], None],
) -> int:
    """A clean run in one invocation counts the job's DynamoDB calls; then, for every call N,
    a new population (ids prefixed by N) whose job is killed at its N-th call and resumed
    after the lease runs out must end exactly like the clean run. Returns how many runs were
    killed (a population's calls differ a little: its ids fall into other shards)."""
    ids = write("clean")
    job, _ = env.paged.start(kind, env.stack.clock())
    before = env.calls.calls
    clean = env.paged.run(job.job_id, Budget(60))
    calls = env.calls.calls - before
    assert clean is not None and clean.status == "done"
    check(ids, describe(clean))
    forget(ids)
    killed = 0
    for n in range(1, calls + 1):
        ids = write(f"k{n}")
        job, _ = env.paged.start(kind, env.stack.clock())
        try:
            with env.calls.killing_at(n):
                env.paged.run(job.job_id, Budget(60))
        except Killed:
            killed += 1
        env.wall.now += LEASE_RUNS_OUT.total_seconds()
        check(ids, drive(env, kind, kills=False, job_id=job.job_id).job)
        forget(ids)
    return killed


def test_rfm_killed_at_every_call_scores_each_buyer_once(env: Env) -> None:
    def write(prefix: str) -> list[str]:
        buyers = [
            rfm.Buyer(f"{prefix}-{n}", n + 1, 20.0 * (n + 1), NOW - timedelta(days=30 * n))
            for n in range(5)
        ]
        with ContactStats.batch_write() as stats, Contact.batch_write() as contacts:
            for b in buyers:
                contacts.save(Contact(contact_id=b.contact_id, attributes={}))
                stats.save(
                    ContactStats(
                        b.contact_id,
                        first_seen=NOW,
                        orders=b.orders,
                        revenue=b.revenue,
                        last_order_at=b.last_order_at,
                        buyer_shard=shard(b.contact_id, "b", BUYER_SHARDS),
                    )
                )
        return [b.contact_id for b in buyers]

    def check(ids: list[str], job: dict[str, Any]) -> None:
        assert job["counts"] == {"measured": 5, "buyers": 5, "changed": 5}, job
        stats = stats_of(ids)
        assert [stats[cid].rfm["segment"] for cid in ids] == [
            "new", "potential", "loyal", "at_risk", "cant_lose"
        ]  # fmt: skip
        assert [len(events_named(cid, RFM_SEGMENT_CHANGED)) for cid in ids] == [1] * 5

    def forget(ids: list[str]) -> None:
        with ContactStats.batch_write() as batch:
            for cid in ids:
                batch.delete(ContactStats(cid))

    assert killed_at_every_call(env, jobs.RFM, write, check, forget) > 30


def test_a_segment_backfill_killed_at_every_call_counts_each_member_once(env: Env) -> None:
    segment_store.save(
        parse_segment("shoe_browsers", SHOE_BROWSERS), SHOE_BROWSERS["condition"], NOW
    )
    populations = 0

    def write(prefix: str) -> list[str]:
        ids = [f"{prefix}-{n}" for n in range(5)]
        with ContactStats.batch_write() as stats, Contact.batch_write() as contacts:
            for cid in ids:
                contacts.save(Contact(contact_id=cid, attributes={}))
                stats.save(ContactStats(cid, shard=shard(cid, "c", CONTACT_SHARDS), first_seen=NOW))
        with Event.batch_write() as events:
            for cid in ids[:3]:
                for hours in (2, 3):
                    at = NOW - timedelta(hours=hours)
                    events.save(viewed_shoes(cid, at, f"v{hours}"))
        return ids

    def check(ids: list[str], job: dict[str, Any]) -> None:
        nonlocal populations
        populations += 1
        assert job["counts"] == {"evaluated": 5, "entered": 3, "left": 0}, job
        stats = stats_of(ids)
        assert [bool(stats[cid].segments) for cid in ids] == [True, True, True, False, False]
        assert [len(events_named(cid, "segment_entered")) for cid in ids] == [1, 1, 1, 0, 0]
        gauge = counters.read(keys.segment_scope("shoe_browsers"))["members"]
        assert gauge == 3 * populations  # the rows of earlier populations are gone, not left

    def forget(ids: list[str]) -> None:
        with ContactStats.batch_write() as batch:
            for cid in ids:
                batch.delete(ContactStats(cid))

    assert killed_at_every_call(env, jobs.SEGMENT_BACKFILL, write, check, forget) > 30


def test_date_triggers_killed_at_every_call_enroll_each_contact_once(env: Env) -> None:
    env.stack.publish("birthday.yaml", BIRTHDAY)
    key = f"birthday#{NOW:%m-%d}"

    def write(prefix: str) -> list[str]:
        ids = [f"{prefix}-{n}" for n in range(3)]
        with (
            Contact.batch_write() as contacts,
            Identity.batch_write() as identities,
            DateMark.batch_write() as marks,
        ):
            for n, cid in enumerate(ids):
                birthday = "1990-01-01" if n == 2 else f"1990-{NOW:%m-%d}"  # the last one moved
                contacts.save(Contact(contact_id=cid, attributes={"birthday": birthday}))
                identities.save(
                    Identity(
                        f"email:{cid}@example.com",
                        contact_id=cid,
                        kind="email",
                        value=f"{cid}@example.com",
                        created_at=NOW,
                    )
                )
                marks.save(DateMark(key, cid))
        return ids

    def check(ids: list[str], job: dict[str, Any]) -> None:
        assert job["counts"] == {"checked": 3, "entered": 2}, job
        enrolled = [[row.funnel for row in Enrollment.query(cid)] for cid in ids]
        assert enrolled == [["birthday"]] * 2 + [[]]
        # A kill between an enrollment's commit and its send leaves the message pending: the
        # sweeper sends it once it is overdue (its own job; never a second message).
        env.stack.clock.now += STUCK_AFTER + timedelta(seconds=1)
        drive(env, jobs.SWEEPER, kills=False)
        sent = [[m.status for m in messages.of_contact(cid)] for cid in ids]
        assert sent == [["sent"]] * 2 + [[]]

    def forget(ids: list[str]) -> None:
        with DateMark.batch_write() as batch:
            for cid in ids:
                batch.delete(DateMark(key, cid))

    assert killed_at_every_call(env, jobs.DATE_TRIGGERS, write, check, forget) > 20
