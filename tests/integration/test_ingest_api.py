"""The Segment HTTP tracking API through Chalice's test client, against DynamoDB Local."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable

import pytest
from chalice.test import Client

from chalicelib.storage.models import Event
from tests.conftest import DrainingClient
from tests.integration.ingest_helpers import basic, contact_of, post


@pytest.mark.parametrize(
    ("path", "call", "name"),
    [
        ("/v1/identify", {"traits": {"email": "ann@example.com"}}, "identify"),
        ("/v1/track", {"event": "cart_updated", "properties": {"total": 30}}, "cart_updated"),
        ("/v1/page", {"name": "Home", "properties": {"url": "https://shop.test/"}}, "page_viewed"),
        ("/v1/screen", {"name": "Home"}, "screen_viewed"),
        ("/v1/group", {"groupId": "acme", "traits": {"plan": "pro"}}, "group"),
        ("/v1/alias", {"previousId": "anon-1", "userId": "u-1"}, "alias"),
    ],
)
def test_every_call_type_is_stored_and_shown_on_the_timeline(
    api: Client, admin_headers: dict[str, str], path: str, call: dict, name: str
) -> None:
    body = {"anonymousId": "anon-1", "messageId": "m-1", **call}
    if path != "/v1/alias":
        body["userId"] = "u-1"
    response = post(api, path, body)
    assert response.status_code == 200, response.body
    assert response.json_body == {"success": True, "stored": 1, "duplicates": 0}
    contact = contact_of(api, admin_headers, user_id="u-1")
    assert [(event["name"], event["event_id"]) for event in contact["timeline"]] == [(name, "m-1")]


def test_a_2xx_means_stored_before_the_worker_runs(
    api: DrainingClient, admin_headers: dict[str, str], drain: Callable[[], int]
) -> None:
    body = {"userId": "u-9", "messageId": "m-9", "event": "signed_up"}
    response = api.http_only.post("/v1/track", headers=basic(), body=json.dumps(body))
    assert response.json_body == {"success": True, "stored": 1, "duplicates": 0}
    [stored] = list(Event.query("user:u-9"))
    assert (stored.name, stored.trust) == ("signed_up", "claim")
    found = api.http_only.get("/admin/contacts?user_id=u-9", headers=admin_headers)
    assert found.json_body == {"contacts": []}
    drain()
    assert contact_of(api, admin_headers, user_id="u-9")["timeline"][0]["name"] == "signed_up"


def test_the_write_key_may_come_in_the_body(api: Client) -> None:
    body = {"writeKey": "test-write-key", "anonymousId": "a", "event": "x"}
    response = api.http.post(
        "/v1/track", headers={"Content-Type": "text/plain"}, body=json.dumps(body)
    )
    assert response.status_code == 200, response.body


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Content-Type": "application/json"}, "missing write key"),
        (basic("wrong-key"), "unknown write key"),
        ({"Authorization": "Basic !!!", "Content-Type": "application/json"}, "missing write key"),
    ],
)
def test_auth_failures_are_401(api: Client, headers: dict[str, str], message: str) -> None:
    response = post(api, "/v1/track", {"anonymousId": "a", "event": "x"}, headers)
    assert response.status_code == 401
    assert message in response.json_body["error"]


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/v1/track", b"{not json", "body", "not valid JSON"),
        ("/v1/track", b"[1, 2]", "body", "JSON object"),
        ("/v1/track", b"", "body", "empty"),
        ("/v1/track", {"anonymousId": "a"}, "event", "track needs event"),
        ("/v1/track", {"event": "x"}, "userId", "userId or anonymousId"),
        (
            "/v1/track",
            {"anonymousId": "a", "event": "x", "properties": [1]},
            "properties",
            "object",
        ),
        (
            "/v1/track",
            {"anonymousId": "a", "event": "x", "timestamp": "yesterday"},
            "timestamp",
            "ISO",
        ),
        ("/v1/alias", {"userId": "u"}, "previousId", "previousId"),
        ("/v1/group", {"userId": "u"}, "groupId", "groupId"),
        ("/v1/batch", {"batch": {"type": "track"}}, "batch", "array"),
        (
            "/v1/track",
            b'{"anonymousId": "a", "event": "x", "properties": {"n": NaN}}',
            "body",
            "NaN",
        ),
        (
            "/v1/track",
            {"anonymousId": "a", "event": "x", "properties": {"n": 1e200}},
            "properties.n",
            "range",
        ),
    ],
)
def test_malformed_input_is_400_naming_the_field(
    api: Client, path: str, body: object, field: str, message: str
) -> None:
    response = post(api, path, body)
    assert response.status_code == 400, response.body
    assert response.headers["Content-Type"] == "application/json"
    assert response.json_body["field"] == field
    assert message in response.json_body["error"]


def test_oversize_payloads_are_413(api: Client) -> None:
    big = {"anonymousId": "a", "event": "x", "properties": {"blob": "x" * 33_000}}
    single = post(api, "/v1/track", big)
    batch = post(api, "/v1/batch", {"batch": [big] * 16})
    assert single.status_code == 413 and "32 KB" in single.json_body["error"]
    assert batch.status_code == 413 and "500 KB" in batch.json_body["error"]
    # A gzip bomb is measured after inflating, and inflating stops at the limit.
    bomb = gzip.compress(json.dumps({"batch": [], "pad": "0" * 2_000_000}).encode())
    assert post(api, "/v1/batch", bomb).status_code == 413


def test_a_gzip_body_is_accepted(api: Client, admin_headers: dict[str, str]) -> None:
    body = {"batch": [{"type": "track", "event": "zipped", "userId": "u-z", "messageId": "z1"}]}
    headers = {**basic(), "Content-Encoding": "gzip"}
    response = post(api, "/v1/batch", gzip.compress(json.dumps(body).encode()), headers)
    assert response.status_code == 200, response.body
    assert contact_of(api, admin_headers, user_id="u-z")["timeline"][0]["name"] == "zipped"


def test_a_retried_batch_stores_each_message_once(
    api: Client, admin_headers: dict[str, str]
) -> None:
    batch = {
        "batch": [
            {
                "type": "page",
                "anonymousId": "a-1",
                "messageId": "p1",
                "properties": {"url": "https://s.test/"},
            },
            {"type": "track", "anonymousId": "a-1", "messageId": "t1", "event": "cart_updated"},
            {"type": "track", "anonymousId": "a-1", "messageId": "t1", "event": "cart_updated"},
        ]
    }
    first = post(api, "/v1/batch", batch)
    retry = post(api, "/v1/batch", batch)
    assert first.json_body == {"success": True, "stored": 2, "duplicates": 1}
    assert retry.json_body == {"success": True, "stored": 0, "duplicates": 3}
    contact = contact_of(api, admin_headers, anonymous_id="a-1")
    assert sorted(event["event_id"] for event in contact["timeline"]) == ["p1", "t1"]
    assert contact["page_views"] == 1  # replays never reach the worker


def test_a_batch_reports_bad_calls_and_stores_the_good_ones(
    api: Client, admin_headers: dict[str, str]
) -> None:
    batch = {
        "batch": [
            {"type": "track", "userId": "u-b", "event": "first"},
            {"type": "track", "userId": "u-b"},
            {"type": "launch", "userId": "u-b"},
            "not a call",
            {"type": "track", "userId": "u-b", "event": "second"},
        ]
    }
    response = post(api, "/v1/batch", batch)
    assert response.status_code == 200
    assert response.json_body["stored"] == 2
    assert [(e["index"], e["field"]) for e in response.json_body["errors"]] == [
        (1, "batch[1].event"),
        (2, "batch[2].type"),
        (3, "batch[3]"),
    ]
    names = {event["name"] for event in contact_of(api, admin_headers, user_id="u-b")["timeline"]}
    assert names == {"first", "second"}


def test_a_batch_with_no_valid_call_is_400(api: Client) -> None:
    response = post(api, "/v1/batch", {"batch": [{"type": "track", "userId": "u"}]})
    assert response.status_code == 400
    assert response.json_body["errors"][0]["field"] == "batch[0].event"


def test_a_storage_failure_is_503_and_the_retry_stores_everything(
    api: Client, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pynamodb.exceptions import PutError

    def broken(*args: object, **kwargs: object) -> None:
        raise PutError("DynamoDB is down")

    batch = {"batch": [{"type": "track", "userId": "u-r", "event": "e", "messageId": "r1"}]}
    with monkeypatch.context() as patch:
        patch.setattr(Event, "save", broken)
        failed = post(api, "/v1/batch", batch)
    assert failed.status_code == 503
    assert "retry" in failed.json_body["error"] and failed.headers["Retry-After"]
    assert list(Event.query("user:u-r")) == []
    retried = post(api, "/v1/batch", batch)
    assert retried.json_body == {"success": True, "stored": 1, "duplicates": 0}
    assert [e["event_id"] for e in contact_of(api, admin_headers, user_id="u-r")["timeline"]] == [
        "r1"
    ]
