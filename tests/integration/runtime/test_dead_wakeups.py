"""A far wake-up lives only in its EventBridge schedule: when Scheduler gives up on the step
runner and dead-letters it, the next sweeper run replays it (chalicelib.runtime.dead_wakeups).
What a person would notice: the reminder still goes out, once, however many copies of the
wake-up the queue holds; a replay that fails leaves the wake-up in the queue for the next run.
SQS is a moto server on a free port; everything else runs on DynamoDB Local."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from autofunnel.timetravel import Stack
from chalicelib import jobs, wiring
from chalicelib.config import Settings
from chalicelib.paging.budget import Budget
from chalicelib.runtime import dead_wakeups
from chalicelib.storage.messages import message_id_of
from chalicelib.storage.models import Wakeup
from tests.integration.paging.faults import CountingProvider

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: no quiet hours
ACCOUNT = "123456789012"  # moto's
QUEUE = "autofunnel-test-wakeup-dlq"
REMINDERS = """
name: reminders
trigger: {event: cart_updated}
templates:
  r: {email: {subject: "Your cart", text: "Still thinking it over?"}}
steps:
  - {id: r1, kind: send, channel: email, template: r}
  - {id: wait, kind: wait, duration: 2d}
  - {id: r2, kind: send, channel: email, template: r}
"""


@pytest.fixture(scope="module")
def sqs_endpoint() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def sqs(sqs_endpoint: str) -> Iterator[Any]:
    client = boto3.client(
        "sqs",
        endpoint_url=sqs_endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    url = client.create_queue(QueueName=QUEUE)["QueueUrl"]
    client.purge_queue(QueueUrl=url)
    yield client
    client.delete_queue(QueueUrl=url)


def url_of(sqs: Any) -> str:
    return dead_wakeups.queue_url(sqs, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{QUEUE}")


def letters(sqs: Any) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url_of(sqs),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def dead_lettered(stack: Stack, sqs: Any, contact_id: str) -> dict[str, Any]:
    """The contact enters the funnel (r1 goes out, a 2-day wait is scheduled); then Scheduler
    gives the wait's wake-up up: its schedule is gone, its input is in the queue."""
    stack.contact(contact_id, email=f"{contact_id}@example.com")
    stack.event(contact_id, "cart_updated", total=70.0)
    (schedule,) = [w for w in Wakeup.by_due.query("due") if w.payload["contact_id"] == contact_id]
    payload = dict(schedule.payload)
    schedule.delete()
    sqs.send_message(QueueUrl=url_of(sqs), MessageBody=json.dumps(payload, default=str))
    return payload


def sent(provider: CountingProvider, contact_id: str, step: str) -> int:
    return provider.sent[message_id_of(f"{contact_id}:reminders:1:{step}:1")]


@pytest.fixture
def stack(settings: Settings) -> tuple[Stack, CountingProvider]:
    provider = CountingProvider()
    built = Stack.build(START, settings=settings, channels={"email": provider})
    built.publish("reminders.yaml", REMINDERS)
    return built, provider


def test_the_sweeper_sends_a_dead_lettered_reminder_once(
    stack: tuple[Stack, CountingProvider], sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, provider = stack
    dead_lettered(app, sqs, "dl-1")
    payload = json.loads(json.dumps(dead_lettered(app, sqs, "dl-2"), default=str))
    sqs.send_message(QueueUrl=url_of(sqs), MessageBody=json.dumps(payload))  # delivered twice
    app.advance(timedelta(days=2, minutes=5))
    assert [sent(provider, c, "r2") for c in ("dl-1", "dl-2")] == [0, 0]  # nothing fired

    # The sweeper's schedule on AWS: the queue from settings, the client from the root.
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{QUEUE}"
    monkeypatch.setattr(app.app, "settings", replace(app.app.settings, dead_letter_queue_arn=arn))
    monkeypatch.setitem(app.app.__dict__, "sqs", sqs)
    assert wiring.app() is app.app
    result = jobs.run_periodic(jobs.SWEEPER, Budget(60))

    assert result["dead_wakeups"] == {"replayed": 3, "kept": 0}
    assert [sent(provider, c, "r2") for c in ("dl-1", "dl-2")] == [1, 1]
    assert letters(sqs) == 0
    sqs.send_message(QueueUrl=url_of(sqs), MessageBody=json.dumps(payload))  # a late copy
    assert jobs.run_periodic(jobs.SWEEPER, Budget(60))["dead_wakeups"]["replayed"] == 1
    assert sent(provider, "dl-2", "r2") == 1


def test_a_replay_that_fails_stays_in_the_queue_for_the_next_run(
    stack: tuple[Stack, CountingProvider], sqs: Any
) -> None:
    app, provider = stack
    dead_lettered(app, sqs, "dl-3")
    sqs.send_message(QueueUrl=url_of(sqs), MessageBody="not json")
    app.advance(timedelta(days=2, minutes=5))

    def failing(payload: dict[str, Any]) -> None:
        raise RuntimeError("the enrollments table is throttled")

    down = dead_wakeups.replay(sqs, url_of(sqs), failing, lambda: 60.0)
    assert (down.replayed, down.kept) == (0, 2)
    assert letters(sqs) == 2  # released at once: `autofunnel dlq list` shows them
    assert sent(provider, "dl-3", "r2") == 0

    up = dead_wakeups.replay(sqs, url_of(sqs), app.runtime.handle_wakeup, lambda: 60.0)
    assert (up.replayed, up.kept) == (1, 1)  # the wake-up; the garbage stays for an operator
    assert sent(provider, "dl-3", "r2") == 1


def test_no_time_left_replays_nothing(stack: tuple[Stack, CountingProvider], sqs: Any) -> None:
    app, _ = stack
    dead_lettered(app, sqs, "dl-4")
    done = dead_wakeups.replay(sqs, url_of(sqs), app.runtime.handle_wakeup, lambda: 0.0)
    assert (done.replayed, done.kept) == (0, 0) and letters(sqs) == 1
