"""The paged-job mechanism on DynamoDB Local with a kind that only visits contacts: every page is
checkpointed, a killed invocation's job resumes after its lease, nothing is counted twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.analytics.contact_stats import CONTACT_SHARDS, shard
from chalicelib.config import Settings
from chalicelib.paging.budget import Budget
from chalicelib.paging.kinds import Pass, Work
from chalicelib.paging.service import PagedJobs
from chalicelib.paging.sources import IndexQuery, shards
from chalicelib.paging.store import JobStore
from chalicelib.storage.models import ContactStats
from tests.integration.paging.faults import CallCounter, Killed

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CONTACTS = 45


class Visits:
    """Counts every contact; remembers, outside the job, every visit a handler made."""

    name = "visits"
    counts = ("contacts",)

    def __init__(self) -> None:
        self.visited: list[str] = []
        self.finished = 0

    def passes(self, work: Work) -> Sequence[Pass]:
        every = IndexQuery(ContactStats.by_shard, shards("c", CONTACT_SHARDS), counts_all=True)
        return [Pass("contacts", every, self.visit, page_size=4)]

    def visit(self, work: Work, rows: Sequence[Any]) -> None:
        for row in rows:
            self.visited.append(row.contact_id)
            work.count("contacts")

    def finish(self, work: Work) -> None:
        self.finished += 1
        work.count("finished")


class Wall:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def population(settings: Settings) -> list[str]:
    ids = [f"p{n:03d}" for n in range(CONTACTS)]
    with ContactStats.batch_write() as batch:
        for cid in ids:
            batch.save(ContactStats(cid, shard=shard(cid, "c", CONTACT_SHARDS), first_seen=NOW))
    return ids


def one_page() -> Budget:
    return Budget(0)  # the first page always runs; none after it


def test_pages_are_checkpointed_one_invocation_at_a_time(population: list[str]) -> None:
    kind, wall = Visits(), Wall()
    jobs = PagedJobs({"visits": kind}, JobStore(wall))
    job, created = jobs.start("visits", NOW)
    assert created and job.status == "queued"
    invocations = 0
    while jobs.store.get(job.job_id).status != "done":
        jobs.run(job.job_id, one_page())
        invocations += 1
    view = jobs.get(job.job_id)
    assert view is not None
    assert view["counts"] == {"contacts": CONTACTS, "finished": 1}
    assert sorted(kind.visited) == population  # each contact once
    assert invocations == view["invocations"] == view["pages"]
    # 45 contacts in pages of 4 over 8 shards: at least one page per shard, one per 4 rows.
    assert invocations >= max(CONTACT_SHARDS, CONTACTS // 4)
    assert view["progress"] == 1.0 and view["passes"][0]["total"] == CONTACTS
    # One open job per kind: asking again while it runs returns it; once done, a new one.
    again, created = jobs.start("visits", NOW)
    assert created and again.job_id != job.job_id


def test_a_running_job_shows_its_progress(population: list[str]) -> None:
    jobs = PagedJobs({"visits": Visits()}, JobStore(Wall()))
    job, _ = jobs.start("visits", NOW)
    for _ in range(5):
        jobs.run(job.job_id, one_page())
    view = jobs.get(job.job_id)
    assert view is not None
    assert view["status"] == "running" and view["pass"] == "contacts"
    assert 0 < view["progress"] < 1
    assert view["counts"]["contacts"] == view["passes"][0]["done"] <= 5 * 4
    same, created = jobs.start("visits", NOW)
    assert not created and same.job_id == job.job_id


def test_a_held_lease_keeps_a_second_runner_out_until_it_expires(
    population: list[str], dynamodb_calls: CallCounter
) -> None:
    kind, wall = Visits(), Wall()
    jobs = PagedJobs({"visits": kind}, JobStore(wall))
    job, _ = jobs.start("visits", NOW)
    with dynamodb_calls.killing_at(4), pytest.raises(Killed):  # after the claim and a page read
        jobs.run(job.job_id, Budget(60))
    held = jobs.run(job.job_id, Budget(60))
    assert held is not None and held.status == "running" and held.pages == 0  # lease held
    wall.now += 60 + 10
    done = jobs.run(job.job_id, Budget(60))
    assert done is not None and done.status == "done"
    assert done.counts == {"contacts": CONTACTS, "finished": 1}


def test_killed_at_every_dynamodb_call_each_contact_counts_once(
    population: list[str], dynamodb_calls: CallCounter
) -> None:
    kind, wall = Visits(), Wall()
    jobs = PagedJobs({"visits": kind}, JobStore(wall))
    clean, _ = jobs.start("visits", NOW, job_id="clean")
    before = dynamodb_calls.calls
    jobs.run(clean.job_id, Budget(60))
    calls = dynamodb_calls.calls - before
    assert jobs.store.get("clean").status == "done"
    for kill_at in range(1, calls + 1):
        kind.visited.clear()
        job, _ = jobs.start("visits", NOW, job_id=f"killed-{kill_at}")
        with dynamodb_calls.killing_at(kill_at), pytest.raises(Killed):
            jobs.run(job.job_id, Budget(60))
        wall.now += 3600  # the killed invocation's lease runs out
        after = jobs.run(job.job_id, Budget(60))
        assert after is not None and after.status == "done", kill_at
        assert after.counts == {"contacts": CONTACTS, "finished": 1}, kill_at
        assert set(kind.visited) == set(population), kill_at
        assert len(kind.visited) - CONTACTS <= 4, kill_at  # at most the page in hand, again


def test_a_failing_handler_is_retried_then_fails_visibly(population: list[str]) -> None:
    class Broken(Visits):
        def visit(self, work: Work, rows: Sequence[Any]) -> None:
            raise RuntimeError("the provider is down")

    wall = Wall()
    jobs = PagedJobs({"visits": Broken()}, JobStore(wall))
    job, _ = jobs.start("visits", NOW)
    for attempt in range(1, 6):
        after = jobs.run(job.job_id, Budget(60))
        assert after is not None and after.failures == attempt
        assert jobs.run(job.job_id, Budget(60)).failures == attempt  # waits before a retry
        wall.now += 31
    view = jobs.get(job.job_id)
    assert view is not None
    assert view["status"] == "failed" and view["error"] == "RuntimeError: the provider is down"
    assert jobs.store.active() == []


def test_a_cancelled_job_stops_at_its_next_checkpoint(population: list[str]) -> None:
    jobs = PagedJobs({"visits": Visits()}, JobStore(Wall()))
    job, _ = jobs.start("visits", NOW)
    jobs.run(job.job_id, one_page())
    assert jobs.cancel(job.job_id)
    after = jobs.run(job.job_id, Budget(60))
    assert after is not None and after.status == "cancelled" and after.pages == 1
    assert not jobs.cancel(job.job_id)
