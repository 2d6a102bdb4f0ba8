"""Limits on shape and size through the HTTP API: every breach is a 4xx naming the limit, and a
contact at its cap keeps taking normal events (DynamoDB Local)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.events import RecordingSink
from chalicelib.ingest import limits
from tests.integration.ingest_helpers import contact_of, post, recording_sink  # noqa: F401 (fixture)


def big_traits(call: int, count: int = 30) -> dict[str, str]:
    """About 31 KB: `count` traits of a 1 KB value each (just under the per-value cap)."""
    return {f"c{call}_t{i}": "x" * (limits.MAX_TRAIT_VALUE_BYTES - 2) for i in range(count)}


def test_a_body_of_15000_brackets_is_a_400_not_a_crash(api: Client) -> None:
    for path in ("/v1/track", "/v1/batch"):
        response = post(api, path, b"[" * 15000)
        assert response.status_code == 400, response.body
        assert response.json_body["limit"] == "nesting_depth"


def test_thirteen_31_kb_identifies_leave_a_contact_that_still_takes_events(
    api: Client, admin_headers: dict[str, str], sink: RecordingSink
) -> None:
    answers = [
        post(
            api,
            "/v1/identify",
            {"userId": "u-big", "messageId": f"big-{n}", "traits": big_traits(n)},
        )
        for n in range(13)
    ]
    accepted = [n for n, answer in enumerate(answers) if answer.status_code == 200]
    assert accepted == list(range(limits.MAX_TRAITS_PER_CONTACT // 30))  # 6 x 30 = 180 traits
    refused = answers[len(accepted)]
    assert refused.status_code == 422
    assert refused.json_body["limit"] == "traits_per_contact"
    # The contact is not bricked: events, and updates of the traits it holds, still land.
    assert post(api, "/v1/track", {"userId": "u-big", "event": "viewed"}).status_code == 200
    update = post(api, "/v1/identify", {"userId": "u-big", "traits": {"c0_t0": "short"}})
    assert update.status_code == 200, update.body
    contact = contact_of(api, admin_headers, user_id="u-big")
    assert len(contact["attributes"]) == 180
    assert contact["attributes"]["c0_t0"] == "short"
    timeline = [event["name"] for event in contact["timeline"]]
    assert timeline.count("identify") == 7 and "viewed" in timeline
    # A refused call stored nothing, and may come back once it fits (its receipt was released).
    assert [event.event_id for event in sink.events].count("big-6") == 0


def test_a_batch_keeps_the_calls_that_fit_and_names_the_refused(
    api: Client, admin_headers: dict[str, str]
) -> None:
    for n in range(6):
        assert (
            post(api, "/v1/identify", {"userId": "u-b", "traits": big_traits(n)}).status_code == 200
        )
    batch: list[dict[str, Any]] = [
        {"type": "track", "userId": "u-b", "event": "first"},
        {"type": "identify", "userId": "u-b", "traits": big_traits(99)},
        {"type": "track", "userId": "u-b", "event": "second"},
    ]
    response = post(api, "/v1/batch", {"batch": batch})
    assert response.status_code == 200, response.body
    assert response.json_body["stored"] == 2
    assert response.json_body["errors"] == [
        {
            "index": 1,
            "field": "batch[1].traits",
            "error": limits.refusal_message(limits.TRAITS_PER_CONTACT),
            "limit": "traits_per_contact",
        }
    ]
    names = [e["name"] for e in contact_of(api, admin_headers, user_id="u-b")["timeline"]]
    assert {"first", "second"} <= set(names)


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
