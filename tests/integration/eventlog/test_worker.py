"""The event log's new path: entries appended once, the stream worker does the rest."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.eventlog import local
from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import VERIFIED, Entry
from chalicelib.paging.budget import Budget
from chalicelib.storage.models import Contact, Identity
from chalicelib.worker import handler

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def page(anon: str, event_id: str, url: str = "https://shop.example/p/1") -> Entry:
    return Entry(
        subject=f"anon:{anon}",
        event_id=event_id,
        type="page",
        name="page_viewed",
        timestamp=AT,
        properties={"url": url},
        keys=(f"anon:{anon}",),
    )


def contact_of(key: str) -> Contact:
    return Contact.get(Identity.get(key).contact_id)


def test_an_appended_event_is_stored_once_and_reaches_the_profile(settings: Settings) -> None:
    first = append([page("a1", "m1"), page("a1", "m2")], AT)
    again = append([page("a1", "m1")], AT)
    assert len(first.stored) == 2 and len(again.duplicates) == 1

    assert wiring.app().drain() == 3  # the two events, then the batch's tally of figures

    contact = contact_of("anon:a1")
    assert contact.page_views == 2
    assert contact.first_touch.as_dict()["landing_page"] == "https://shop.example/p/1"


def test_identities_in_one_batch_merge_into_one_contact(settings: Settings) -> None:
    append([page("laptop", "m1")], AT)
    identify = Entry(
        "user:u1",
        "m2",
        "identify",
        "identify",
        AT,
        {"email": "ann@example.com"},
        keys=("user:u1", "anon:laptop", "email:ann@example.com"),
        trust=VERIFIED,
    )
    append([identify], AT)
    wiring.app().drain()
    assert contact_of("anon:laptop").contact_id == contact_of("email:ann@example.com").contact_id
    assert contact_of("user:u1").attributes.as_dict()["email"] == "ann@example.com"


def test_a_poller_built_later_starts_after_what_was_handled(settings: Settings) -> None:
    """As an event source mapping keeps its position: the application `make run` starts after
    the demo seed (or a test's stack after the app) is not handed the handled records again."""
    append([page("a2", "m1")], AT)
    assert wiring.app().drain() == 2  # the event, then the batch's tally
    later = wiring.bootstrap(settings)
    assert later.drain() == 0
    append([page("a2", "m2")], AT)
    assert later.drain() == 2
    assert contact_of("anon:a2").page_views == 2


def test_make_run_restarted_on_its_data_is_not_handed_the_old_records_again(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB Local keeps a day of stream records: a restarted `make run` resumes where the
    last one stopped, as an event source mapping does, rather than handling that day again."""
    process = local._handled  # what this test process has handled, shared by the other tests
    monkeypatch.setattr(local, "_handled", copy.deepcopy(local._handled))
    monkeypatch.setattr(local, "_positions_file", None)
    positions = tmp_path / "stream-positions.json"
    local.keep_positions_in(positions)
    try:
        append([page("a3", "m1")], AT)
        assert wiring.app().drain() == 2

        monkeypatch.setattr(local, "_handled", {})  # a new process: nothing in memory
        local.keep_positions_in(positions)
        restarted = wiring.bootstrap(settings)
        assert restarted.drain() == 0
        append([page("a3", "m2")], AT)
        assert restarted.drain() == 2
        assert contact_of("anon:a3").page_views == 2
    finally:  # the next test's pollers start after these records, as without the swap
        for arn, shards in local._handled.items():
            process.setdefault(arn, {}).update(shards)


class LambdaContext:
    def __init__(self, seconds_left: float) -> None:
        self.seconds_left = seconds_left

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds_left * 1000)


def test_the_worker_keeps_a_tenth_of_its_time_and_at_least_20_s() -> None:
    assert round(handler._budget(LambdaContext(300)).remaining()) == 270
    assert round(handler._budget(LambdaContext(60)).remaining()) == 40
    assert handler._budget(None) is None  # the local poller: no Lambda, no limit


def test_records_the_invocation_has_no_time_for_come_back_and_count_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of a thousand records may not fit one invocation: the worker starts no contact
    once its time runs short, hands the rest back, and the next delivery handles and counts
    them (once: the day's events, each visitor's page views)."""
    from chalicelib.analytics import counters, keys

    wiring.app().drain()  # what earlier tests left
    visitors = [f"short-{n}" for n in range(4)]
    append([page(anon, f"m-{anon}") for anon in visitors], AT)
    ticks = iter(range(1000))  # a second passes at each look at the clock
    short = Budget(1.5, clock=lambda: float(next(ticks)))  # spent before the third visitor
    budgets = iter([short])
    monkeypatch.setattr(handler, "_budget", lambda context: next(budgets, None))
    stream = next(s for s in wiring.app().streams.streams if s.table.endswith("events"))
    handle, answers = stream.handler, []

    def recorded(event: dict, context: object) -> dict:
        answer = handle(event, context)
        answers.append(answer)
        return answer

    before = counters.read(keys.day_scope(AT)).get(keys.day_metric(AT, "events"), 0)
    stream.handler = recorded
    try:
        wiring.app().drain()
    finally:
        stream.handler = handle

    assert len(answers[0]["batchItemFailures"]) == 2  # two visitors started, two handed back
    assert all(not answer["batchItemFailures"] for answer in answers[1:])
    assert [contact_of(f"anon:{anon}").page_views for anon in visitors] == [1, 1, 1, 1]
    after = counters.read(keys.day_scope(AT)).get(keys.day_metric(AT, "events"), 0)
    assert after - before == 4
