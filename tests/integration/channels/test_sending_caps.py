"""Caps against SMS pumping and floods, on DynamoDB Local: the SMS countries, a daily limit that
holds across several processes sending at once (held messages visible, released or discarded by
an operator), and frequency caps that read sends as far back as they look."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.channels.delivery import deliver
from chalicelib.channels.ratelimit import RateLimiter
from chalicelib.channels.registry import build_channels
from chalicelib.config import Settings
from chalicelib.paging.budget import Budget
from chalicelib.paging.service import PagedJobs
from chalicelib.runtime.contacts import load_snapshot
from chalicelib.runtime.dispatch import Dispatcher, dispatch_shard, pending_content
from chalicelib.runtime.periodic_jobs import Sweeper
from chalicelib.storage.models import Counter, Message
from tests.integration.channels.conftest import make_contact, make_message

US_PHONE = "+12125550100"
DE_PHONE = "+4915112345678"
LIMIT = 5
PROCESSES = 3
PER_PROCESS = 4
# Today, in the afternoon in Germany: no quiet hours, and the limit's day is today.
AFTERNOON = datetime.now(UTC).replace(hour=13, minute=0, second=0, microsecond=0)


def pending_sms(message_id: str, contact_id: str = "c1") -> Message:
    created = AFTERNOON - timedelta(hours=1)
    message = Message(
        message_id,
        idempotency_key=message_id,
        contact_id=contact_id,
        channel="sms",
        content=pending_content(["sms"], {"sms": {"text": "Your cart is waiting"}}),
        status="pending",
        created_at=created,
        dispatch_shard=dispatch_shard(message_id),
        funnel="cart",
        step_id="reminder",
    )
    message.save()
    return message


def sweep(dispatcher: Dispatcher) -> int:
    """The sweeper job run to its end with this dispatcher: how many messages it recovered."""
    paged = PagedJobs(
        {
            "sweeper": Sweeper(
                lambda contact_id, key: None, dispatcher, lambda message_id, now: False
            )
        }
    )
    job, _ = paged.start("sweeper", AFTERNOON)
    while job.status in ("queued", "running"):
        job = paged.run(job.job_id, Budget(60)) or job
    return int(job.counts["recovered_messages"])


def send(settings: Settings, channels: list[str]) -> Any:
    return deliver(
        build_channels(settings),
        settings=settings,
        message_id="m" * 32,
        contact_id="c1",
        channels_in_order=channels,
        render=lambda channel: {"subject": "Cart", "text": "Your cart is waiting"},
        now=datetime(2026, 6, 2, 15, tzinfo=UTC),  # afternoon in both countries
        limiter=RateLimiter({}),
        sleep=lambda seconds: None,
    )


def test_with_only_germany_allowed_a_us_number_gets_no_sms(settings: Settings) -> None:
    germany = dataclasses.replace(settings, sms_countries=frozenset({"DE"}))
    make_contact("c1", phone=US_PHONE, email="ann@example.com")
    refused = send(germany, ["sms"])
    assert refused.status == "no_route"
    assert refused.skipped == (("sms", "US is not in AUTOFUNNEL_SMS_COUNTRIES (DE)"),)
    fallback = send(germany, ["sms", "email"])
    assert (fallback.status, fallback.channel) == ("sent", "email")
    nowhere = dataclasses.replace(settings, sms_countries=frozenset(), phone_region="")
    assert send(nowhere, ["sms"]).status == "no_route"


def test_a_german_number_gets_its_sms_when_germany_is_allowed(settings: Settings) -> None:
    germany = dataclasses.replace(settings, sms_countries=frozenset({"DE"}))
    make_contact("c1", phone=DE_PHONE)
    outcome = send(germany, ["sms"])
    assert (outcome.status, outcome.channel, outcome.address) == ("sent", "sms", DE_PHONE)


def _dispatch_in_another_process(
    env: dict[str, str], message_ids: list[str], start: Any, results: Any
) -> None:
    """One container of several: its own process, settings and connections."""
    os.environ.update(env)
    wiring.reset()
    settings = wiring.storage()
    dispatcher = Dispatcher(build_channels(settings), settings, lambda: AFTERNOON)
    start.wait()  # every process starts sending at the same moment
    for message_id in message_ids:
        results.put(dispatcher.dispatch(Message.get(message_id, consistent_read=True)))


def test_a_daily_limit_holds_across_processes_sending_at_once_and_the_rest_is_held(
    settings: Settings, api: Client, admin_headers: dict[str, str]
) -> None:
    make_contact("c1", phone=DE_PHONE)
    ids = [f"{n:032x}" for n in range(PROCESSES * PER_PROCESS)]
    for message_id in ids:
        pending_sms(message_id)
    env = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(("AUTOFUNNEL_", "AWS_"))
    } | {"AUTOFUNNEL_DAILY_LIMITS": f'{{"sms": {LIMIT}}}'}
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(PROCESSES), context.Queue()
    workers = [
        context.Process(
            target=_dispatch_in_another_process,
            args=(env, ids[n * PER_PROCESS : (n + 1) * PER_PROCESS], start, results),
        )
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    statuses = sorted(results.get(timeout=120) for _ in ids)
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert statuses == ["held"] * (len(ids) - LIMIT) + ["sent"] * LIMIT
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert Counter.get(f"daily_limit#{day}", "sms").value == LIMIT

    # The operator sees them, with the day's figures...
    os.environ["AUTOFUNNEL_DAILY_LIMITS"] = f'{{"sms": {LIMIT}}}'
    wiring.reset()
    wiring.storage()
    listing = api.http.get("/admin/held", headers=admin_headers)
    assert listing.status_code == 200, listing.body
    body = listing.json_body
    assert body["limits"] == {"sms": LIMIT} and body["used_today"] == {"sms": LIMIT}
    assert body["held_count"] == {"sms": len(ids) - LIMIT}
    held = body["held"]
    assert {h["channel"] for h in held} == {"sms"} and held[0]["reason"].startswith("the daily")
    # ...and lets them go: the next sweep sends them past today's limit.
    released = api.http.post("/admin/held/release", headers=admin_headers, body="")
    assert released.json_body == {"released": len(ids) - LIMIT}
    assert api.http.post("/admin/held/release", headers=admin_headers).json_body == {"released": 0}
    sweeper = Dispatcher(build_channels(wiring.storage()), wiring.storage(), lambda: AFTERNOON)
    assert sweep(sweeper) == len(ids) - LIMIT
    assert sorted(Message.get(i).status for i in ids) == ["sent"] * len(ids)
    assert Counter.get(f"daily_limit#{day}", "sms").value == len(ids)


def test_held_messages_can_be_discarded_and_are_never_sent(
    settings: Settings, api: Client, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOFUNNEL_DAILY_LIMITS", '{"sms": 0}')
    wiring.reset()
    wiring.storage()
    make_contact("c1", phone=DE_PHONE)
    pending_sms("a" * 32)
    dispatcher = Dispatcher(build_channels(wiring.storage()), wiring.storage(), lambda: AFTERNOON)
    assert dispatcher.dispatch(Message.get("a" * 32)) == "held"
    response = api.http.post(
        "/admin/held/discard",
        headers={**admin_headers, "Content-Type": "application/json"},
        body='{"channel": "sms"}',
    )
    assert response.json_body == {"discarded": 1}
    assert sweep(dispatcher) == 0
    message = Message.get("a" * 32)
    assert message.status == "skipped" and "discarded" in (message.error or "")
    assert api.http.get("/admin/held", headers=admin_headers).json_body["held"] == []


def test_sends_are_read_as_far_back_as_the_longest_cap(settings: Settings) -> None:
    """A `per: 30d` cap sees a send from 20 days ago (the snapshot used to stop at 7 days)."""
    now = datetime.now(UTC)
    make_contact("c1", email="ann@example.com")
    make_message(
        "old" + "0" * 29, "c1", "email", "ann@example.com", created_at=now - timedelta(days=20)
    )
    make_message(
        "new" + "0" * 29, "c1", "email", "ann@example.com", created_at=now - timedelta(days=1)
    )
    assert len(load_snapshot("c1", now, timedelta(days=30)).view.recent_sends) == 2
    assert len(load_snapshot("c1", now, timedelta(days=7)).view.recent_sends) == 1
    assert load_snapshot("c1", now).view.recent_sends == ()  # no cap: nothing read
