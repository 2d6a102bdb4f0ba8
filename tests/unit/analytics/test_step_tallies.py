"""A committed step's figures as its enrollment keeps them, and which records of the enrollments'
stream count them: only a write that brought new figures, once."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from chalicelib.analytics import keys
from chalicelib.analytics.step_tallies import StepTallies, counted, decode, encode
from chalicelib.analytics.tally import Tally
from chalicelib.eventlog.stream import INSERT, MODIFY, REMOVE, StreamRecord

OWN = keys.funnel_scope("cart", 3)


def step_tally() -> Tally:
    tally = Tally()
    tally.add(OWN, "entered")
    tally.add(OWN, "active")
    tally.add(OWN, "revenue", Decimal("49.9"))
    tally.add(OWN, "step#r1#sent")
    tally.add(OWN, "step#r1#sent#email")
    tally.add(OWN, "step#wait#1#waiting", -1)  # a step id with a "#" in it
    tally.add(OWN, "step#r1#dt#3600")
    tally.add("days#2026-11", "2026-11-23#messages#email")
    tally.add(keys.TEMPLATES_SCOPE, "cart:r#email#sent", 2)
    tally.add(keys.funnel_scope("other", 1), "entered")
    return tally


def test_figures_come_back_as_they_were_written() -> None:
    tally = step_tally()
    figures = encode(tally, OWN)
    assert figures is not None
    stored = json.loads(json.dumps(figures))  # as the item keeps them
    assert decode(stored, OWN).as_dict() == tally.as_dict()


def test_a_step_with_nothing_to_count_writes_no_figures() -> None:
    tally = Tally()
    tally.add(OWN, "step#r1#waiting", 1)
    tally.add(OWN, "step#r1#waiting", -1)  # a reaction: the gauge moved nowhere
    assert encode(tally, OWN) is None


def image(version: int, token: int | None, figures: Tally | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "contact_id": {"S": "ann"},
        "enrollment_key": {"S": "cart#00001"},
        "funnel": {"S": "cart"},
        "funnel_version": {"N": "3"},
        "version": {"N": str(version)},
    }
    if token is not None:
        item["figures_of"] = {"N": str(token)}
    if figures is not None:
        item["figures"] = {"S": json.dumps(encode(figures, OWN))}
    return item


def record(name: str, new: Any, old: Any = None, event_id: str = "e1") -> StreamRecord:
    return StreamRecord(name, "100", event_id, "t-enrollments", {}, new, old)


def test_a_commit_that_brings_new_figures_counts_them_once() -> None:
    tally = step_tally()
    first = image(1, 1, tally)
    assert counted(record(INSERT, first)).as_dict() == tally.as_dict()  # the enrollment starts
    moved = image(2, 2, tally)
    assert counted(record(MODIFY, moved, first)).as_dict() == tally.as_dict()  # a later step


def test_writes_that_bring_no_new_figures_count_nothing() -> None:
    tally = step_tally()
    counted_already = image(2, 2, tally)
    nothing = [
        record(MODIFY, counted_already, counted_already),  # written again, token unchanged
        record(MODIFY, image(3, None), counted_already),  # a reaction: no figures
        record(MODIFY, image(3, 2, tally), counted_already),  # version moved, figures did not
        record(INSERT, image(2, None)),  # a merge's copy under the survivor (figures dropped)
        record(REMOVE, None, counted_already),  # erased, moved away, or expired
        record(MODIFY, image(5, None), image(4, None)),  # committed before figures moved here
    ]
    for each in nothing:
        assert counted(each).as_dict() == {}, each


class Ledger:
    def __init__(self) -> None:
        self.tallies: dict[str, dict[str, float]] = {}

    def put(self, key: str, tally: Tally, now: Any, empty_too: bool = False) -> None:
        if empty_too or tally.as_dict():
            self.tallies[key] = tally.as_dict()


def lambda_event(*records: StreamRecord) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventID": r.event_id,
                "eventName": r.event_name,
                "eventSourceARN": "arn:aws:dynamodb:r:1:table/t-enrollments/stream/x",
                "dynamodb": {"SequenceNumber": r.sequence, "NewImage": r.new, "OldImage": r.old},
            }
            for r in records
        ]
    }


def test_a_batch_is_one_tally_named_after_its_first_record_that_counts() -> None:
    """So either half of a bisected batch whose first half counts nothing replaces the whole
    batch's tally instead of adding a second one."""
    tally = step_tally()
    reaction = record(MODIFY, image(3, None), image(2, 2, tally), "e1")
    step = record(INSERT, image(1, 1, tally), None, "e2")
    other = record(MODIFY, image(4, 4, tally), image(3, 3, tally), "e3")
    ledger = Ledger()
    tallies = StepTallies(ledger, lambda: None)
    tallies.handle(lambda_event(reaction, step, other))
    twice = {key: value * 2 for key, value in tally.as_dict().items()}
    assert ledger.tallies == {"steps:e2": twice}
    tallies.handle(lambda_event(reaction))  # the bisected batch's first half: nothing
    tallies.handle(lambda_event(step, other))  # its second half: replaces the whole's
    assert ledger.tallies == {"steps:e2": twice}
    tallies.handle(lambda_event(reaction, step))  # bisected again
    tallies.handle(lambda_event(other))
    assert ledger.tallies == {"steps:e2": tally.as_dict(), "steps:e3": tally.as_dict()}
