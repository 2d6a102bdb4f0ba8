"""Limits on shape and size through the HTTP API: every breach the route can see is a 4xx naming
the limit; the per-contact trait cap is the stream worker's (it knows the contact), and a
contact at its cap keeps taking normal events (DynamoDB Local)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.ingest import limits
from chalicelib.worker.contact_entries import TRAITS_REFUSED
from tests.integration.ingest_helpers import contact_of, post


def big_traits(call: int, count: int = 30) -> dict[str, str]:
    """About 31 KB: `count` traits of a 1 KB value each (just under the per-value cap)."""
    return {f"c{call}_t{i}": "x" * (limits.MAX_TRAIT_VALUE_BYTES - 2) for i in range(count)}


def test_a_body_of_15000_brackets_is_a_400_not_a_crash(api: Client) -> None:
    for path in ("/v1/track", "/v1/batch"):
        response = post(api, path, b"[" * 15000)
        assert response.status_code == 400, response.body
        assert response.json_body["limit"] == "nesting_depth"


def test_thirteen_31_kb_identifies_leave_a_contact_that_still_takes_events(
    api: Client, admin_headers: dict[str, str]
) -> None:
    for n in range(13):  # the route stores each: the contact is the worker's to know
        answer = post(
            api,
            "/v1/identify",
            {"userId": "u-big", "messageId": f"big-{n}", "traits": big_traits(n)},
        )
        assert answer.status_code == 200, answer.body
    # The contact is not bricked: events, and updates of the traits it holds, still land.
    assert post(api, "/v1/track", {"userId": "u-big", "event": "viewed"}).status_code == 200
    update = post(api, "/v1/identify", {"userId": "u-big", "traits": {"c0_t0": "short"}})
    assert update.status_code == 200, update.body
    contact = contact_of(api, admin_headers, user_id="u-big")
    kept = limits.MAX_TRAITS_PER_CONTACT // 30  # 6 x 30 = 180 traits
    assert len(contact["attributes"]) == kept * 30
    assert contact["attributes"]["c0_t0"] == "short"
    assert "c6_t0" not in contact["attributes"]
    refusals = [e for e in contact["timeline"] if e["name"] == TRAITS_REFUSED]
    assert sorted(e["properties"]["refused_event"].split(":")[-1] for e in refusals) == sorted(
        f"big-{n}" for n in range(kept, 13)
    )
    assert {e["properties"]["limit"] for e in refusals} == {"traits_per_contact"}
    assert "viewed" in [event["name"] for event in contact["timeline"]]


def test_a_batch_keeps_the_calls_that_fit_and_records_the_refused(
    api: Client, admin_headers: dict[str, str]
) -> None:
    for n in range(6):
        assert (
            post(api, "/v1/identify", {"userId": "u-b", "traits": big_traits(n)}).status_code == 200
        )
    batch: list[dict[str, Any]] = [
        {"type": "track", "userId": "u-b", "event": "first"},
        {"type": "identify", "userId": "u-b", "messageId": "too-many", "traits": big_traits(99)},
        {"type": "track", "userId": "u-b", "event": "second"},
    ]
    response = post(api, "/v1/batch", {"batch": batch})
    assert response.status_code == 200, response.body
    assert response.json_body["stored"] == 3
    contact = contact_of(api, admin_headers, user_id="u-b")
    names = [e["name"] for e in contact["timeline"]]
    assert {"first", "second", TRAITS_REFUSED} <= set(names)
    [refusal] = [e for e in contact["timeline"] if e["name"] == TRAITS_REFUSED]
    assert refusal["properties"]["error"] == limits.refusal_message(limits.TRAITS_PER_CONTACT)
    assert "c99_t0" not in contact["attributes"]


@pytest.mark.parametrize(
    ("path", "body", "status", "limit"),
    [
        (
            "/v1/batch",
            {"batch": [{"type": "track", "userId": "u", "event": "e"}] * 101},
            413,
            "batch_calls",
        ),
        ("/v1/identify", {"userId": "u", "traits": {"bio": "x" * 5000}}, 413, "trait_value_bytes"),
        (
            "/v1/track",
            {"userId": "u", "event": "e", "properties": {"x": "y" * 40_000}},
            413,
            "call_bytes",
        ),
    ],
)
def test_each_breach_is_a_4xx_naming_the_limit(
    api: Client, path: str, body: dict[str, Any], status: int, limit: str
) -> None:
    response = post(api, path, body)
    assert response.status_code == status, response.body
    assert response.json_body["limit"] == limit
    assert response.json_body["error"]
