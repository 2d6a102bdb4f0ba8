"""The jobs' admin API and `autofunnel jobs`: 202 with a job and its status route, progress while
it runs, one open job per kind, cancelling, a segment saved again superseding its backfill, and
clear errors for what a stranger or a typo sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client
from click.testing import CliRunner

from autofunnel import job_commands
from autofunnel.api_client import AdminApi, ApiFailure
from autofunnel.cli import main
from autofunnel.demo_seed import SHOE_BROWSERS
from chalicelib import jobs
from chalicelib.analytics.contact_stats import BUYER_SHARDS, CONTACT_SHARDS, shard
from chalicelib.paging.budget import Budget
from chalicelib.storage.models import Contact, ContactStats, PagedJob
from tests.conftest import ADMIN_KEY

NOW = datetime.now(UTC)


@pytest.fixture
def buyers(api: Client) -> list[str]:
    ids = [f"b{n:02d}" for n in range(30)]
    with ContactStats.batch_write() as stats, Contact.batch_write() as contacts:
        for n, cid in enumerate(ids):
            contacts.save(Contact(contact_id=cid, attributes={}))
            stats.save(
                ContactStats(
                    cid,
                    shard=shard(cid, "c", CONTACT_SHARDS),
                    first_seen=NOW,
                    orders=1 + n % 4,
                    revenue=10.0 * (n + 1),
                    last_order_at=NOW - timedelta(days=n),
                    buyer_shard=shard(cid, "b", BUYER_SHARDS),
                )
            )
    return ids


def test_starting_rfm_answers_202_and_the_status_route_follows_it(
    api: Client, admin_headers: dict[str, str], buyers: list[str]
) -> None:
    started = api.http.post("/admin/jobs/rfm", headers=admin_headers)
    assert started.status_code == 202
    job = started.json_body
    assert job["kind"] == "rfm" and job["status"] == "queued" and job["created"] is True
    assert started.headers["Location"] == job["status_url"] == f"/admin/jobs/{job['id']}"
    assert job["progress"] == 0 and job["counts"] == {}

    again = api.http.post("/admin/jobs/rfm", headers=admin_headers).json_body
    assert again["id"] == job["id"] and again["created"] is False  # one open RFM job

    jobs.paged_jobs().run(job["id"], Budget(0))  # one invocation, one page
    running = api.http.get(job["status_url"], headers=admin_headers).json_body
    assert running["status"] == "running" and running["pass"] == "distribution"
    assert 0 < running["progress"] < 1 and running["invocations"] == 1
    [measuring, scoring] = running["passes"]
    assert (measuring["name"], measuring["total"]) == ("distribution", 30)  # the index's size
    assert 0 < measuring["done"] <= 10 and not measuring["finished"]  # a first page is small
    assert scoring == {"name": "score", "done": 0, "total": None, "finished": False}

    jobs.drain()
    done = api.http.get(job["status_url"], headers=admin_headers).json_body
    assert done["status"] == "done" and done["progress"] == 1.0
    assert done["counts"] == {"measured": 30, "buyers": 30, "changed": 30}
    listed = api.http.get("/admin/jobs?kind=rfm", headers=admin_headers).json_body["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_a_segment_saved_again_supersedes_its_running_backfill(
    api: Client, admin_headers: dict[str, str], buyers: list[str]
) -> None:
    def save(body: dict[str, Any]) -> Any:
        return api.http.put(
            "/admin/segments/shoe_browsers",
            headers={**admin_headers, "Content-Type": "application/json"},
            body=json.dumps(body).encode(),
        )

    first = save(SHOE_BROWSERS)
    assert first.status_code == 202 and first.json_body["created"] is True
    old = first.json_body["job"]
    assert old["kind"] == "segment_backfill" and old["params"] == {"segment": "shoe_browsers"}
    jobs.paged_jobs().run(old["id"], Budget(0))
    second = save({**SHOE_BROWSERS, "description": "changed"})
    assert second.status_code == 202 and second.json_body["created"] is False
    new = second.json_body["job"]
    assert new["id"] != old["id"]
    cancelled = api.http.get(old["status_url"], headers=admin_headers).json_body
    assert cancelled["status"] == "cancelled"
    jobs.drain()
    done = api.http.get(new["status_url"], headers=admin_headers).json_body
    assert done["status"] == "done" and done["counts"]["evaluated"] == 30


def test_cancelling_a_job(api: Client, admin_headers: dict[str, str], buyers: list[str]) -> None:
    job = api.http.post("/admin/jobs/rfm", headers=admin_headers).json_body
    cancelled = api.http.post(f"{job['status_url']}/cancel", headers=admin_headers)
    assert cancelled.status_code == 200 and cancelled.json_body["status"] == "cancelled"
    assert jobs.paged_jobs().run(job["id"], Budget(60)).pages == 0  # nothing runs any more
    twice = api.http.post(f"{job['status_url']}/cancel", headers=admin_headers)
    assert twice.status_code == 409 and "cancelled already" in twice.json_body["error"]


def test_bad_requests_get_clear_errors_and_start_nothing(
    api: Client, admin_headers: dict[str, str]
) -> None:
    assert api.http.post("/admin/jobs/rfm").status_code == 401
    assert api.http.get("/admin/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
    missing = api.http.get("/admin/jobs/rfm-19700101T000000-abcdef", headers=admin_headers)
    assert missing.status_code == 404 and missing.json_body["field"] == "id"
    huge = api.http.get(f"/admin/jobs/{'x' * 5000}", headers=admin_headers)
    assert huge.status_code == 404
    for query in ("limit=0", "limit=many", "limit=101"):
        bad = api.http.get(f"/admin/jobs?{query}", headers=admin_headers)
        assert bad.status_code == 400 and bad.json_body["field"] == "limit"
    kind = api.http.get("/admin/jobs?kind=mining", headers=admin_headers)
    assert kind.status_code == 400 and "rfm" in kind.json_body["kinds"]
    invalid = api.http.put(
        "/admin/segments/broken",
        headers={**admin_headers, "Content-Type": "application/json"},
        body=b'{"condition": {"reaction": "opened", "messages": ["m1"]}}',
    )
    assert invalid.status_code == 422
    assert list(PagedJob.by_active.query("active")) == []  # no job was queued


def test_autofunnel_jobs_shows_a_progress_bar_until_done(
    api: Client, buyers: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def call(self: AdminApi, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        response = api.http.request(method, path, headers=headers, body=b"")
        body = json.loads(response.body)
        if response.status_code >= 400:
            raise ApiFailure(response.status_code, body)
        return response.status_code, body

    polls = []

    def one_invocation(seconds: float) -> None:  # the job runner's next tick, between polls
        polls.append(seconds)
        jobs.paged_jobs().continue_open(Budget(0.01))

    monkeypatch.setattr(AdminApi, "call", call)
    monkeypatch.setattr(job_commands, "sleep", one_invocation)
    monkeypatch.setenv("AUTOFUNNEL_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("COLUMNS", "160")
    cli = CliRunner()

    started = cli.invoke(main, ["jobs", "start", "rfm"])
    assert started.exit_code == 0, started.output
    assert len(polls) > 3  # it watched the job over several invocations
    assert "rfm" in started.output and "100%" in started.output
    assert "counts: buyers 30, changed 30, measured 30" in started.output
    assert "pass score: 30 of ~30 finished" in started.output

    listed = cli.invoke(main, ["jobs"])
    assert listed.exit_code == 0 and "done" in listed.output and "100%" in listed.output
    missing = cli.invoke(main, ["jobs", "watch", "nope"])
    assert missing.exit_code != 0 and "HTTP 404" in missing.output
