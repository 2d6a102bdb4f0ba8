"""A 2xx means stored, and a kill before the answer loses nothing: the ingest route killed at
each of its DynamoDB calls in turn (at the botocore layer, like a Lambda timeout), the client's
retry then stores each event exactly once, and the worker counts each once."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.storage.models import Event
from tests.integration.ingest_helpers import basic, contact_of, post
from tests.integration.paging.faults import CallCounter, Killed


def batch(n: int) -> dict[str, Any]:
    visitor = f"v-{n}"
    return {
        "batch": [
            {"type": "page", "anonymousId": visitor, "messageId": f"{n}-page"},
            {
                "type": "identify",
                "anonymousId": visitor,
                "messageId": f"{n}-identify",
                "traits": {"email": f"v{n}@example.com", "plan": "pro"},
            },
            {
                "type": "track",
                "anonymousId": visitor,
                "event": "cart_updated",
                "messageId": f"{n}-cart",
            },
        ]
    }


def stored_ids(n: int) -> list[str]:
    found = [
        item.event_id.rsplit(":", 1)[-1]
        for subject in (f"anon:v-{n}",)
        for item in Event.query(subject, consistent_read=True)
    ]
    return sorted(found)


def test_the_ingest_route_killed_at_each_call_stores_every_event_once_on_retry(
    api: Client, admin_headers: dict[str, str], dynamodb_calls: CallCounter
) -> None:
    start = dynamodb_calls.calls
    first = api.http_only.post("/v1/batch", headers=basic(), body=_json(batch(0)))
    route_calls = dynamodb_calls.calls - start  # all the route does before it answers
    assert first.status_code == 200 and route_calls >= 3  # (a conditional put per call)
    # The answer lost on the way back (a kill after the last write): the retry is a duplicate.
    again = post(api, "/v1/batch", batch(0))
    assert (again.json_body["stored"], again.json_body["duplicates"]) == (0, 3)
    assert stored_ids(0) == ["0-cart", "0-identify", "0-page"]

    for n in range(1, route_calls + 1):
        with dynamodb_calls.killing_at(n), pytest.raises(Killed):
            api.http_only.post("/v1/batch", headers=basic(), body=_json(batch(n)))
        retry = post(api, "/v1/batch", batch(n))  # the snippet sends the same batch again
        assert retry.status_code == 200, retry.body
        assert retry.json_body["stored"] + retry.json_body["duplicates"] == 3
        assert stored_ids(n) == [f"{n}-cart", f"{n}-identify", f"{n}-page"], f"killed at {n}"
        contact = contact_of(api, admin_headers, anonymous_id=f"v-{n}")
        assert contact["page_views"] == 1 and contact["attributes"]["plan"] == "pro"
        names = sorted(e["name"] for e in contact["timeline"])
        assert names == ["cart_updated", "identify", "page_viewed"], f"killed at {n}"


def _json(body: Any) -> bytes:
    import json

    return json.dumps(body).encode()
