"""The official Segment and RudderStack Python clients, unchanged, against `chalice local`:
pointed at this host with a server key (a shop's backend: its calls are proof), their identify
+ track + page land on one contact and the order counts."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.config import Settings
from tests.browser.local_server import ANSWER_SECONDS, chalice_local
from tests.conftest import ADMIN_KEY, SERVER_KEY

pytestmark = pytest.mark.slow


@pytest.fixture
def local_app(settings: Settings) -> Iterator[str]:
    with chalice_local({}) as url:
        yield url


def contact_of(api: str, user_id: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{api}/admin/contacts?user_id={user_id}",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=ANSWER_SECONDS) as response:
        [contact] = json.loads(response.read())["contacts"]
    return contact


def checked(api: str, user_id: str) -> None:
    """`check` passes once the stream worker, polling beside chalice local, handled the calls."""
    deadline = time.monotonic() + 30
    while True:
        try:
            check(contact_of(api, user_id), user_id)
            return
        except (AssertionError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def send_with(client: Any, user_id: str) -> None:
    client.identify(user_id, {"email": f"{user_id}@example.com", "plan": "pro"})
    client.track(user_id, "Order Completed", {"order_id": "o-1", "total": 42.5})
    client.page(user_id, "Shop", "Home", {"url": "https://shop.test/?utm_source=sdk"})
    client.flush()  # the clients batch in a background thread; wait until it is all sent


def check(contact: dict[str, Any], user_id: str) -> None:
    names = sorted(event["name"] for event in contact["timeline"])
    assert names == ["Order Completed", "identify", "page_viewed"]
    assert contact["attributes"] == {"email": f"{user_id}@example.com", "plan": "pro"}
    assert contact["orders_count"] == 1 and contact["total_spent"] == 42.5
    assert contact["page_views"] == 1 and contact["first_touch"]["source"] == "sdk"
    kinds = {identity["kind"] for identity in contact["identities"]}
    assert kinds == {"user", "email"}


def test_segment_analytics_python(local_app: str) -> None:
    from segment.analytics import Client

    errors: list[Any] = []
    client = Client(SERVER_KEY, host=local_app, on_error=lambda e, batch: errors.append(e))
    send_with(client, "seg-user")
    assert errors == []
    checked(local_app, "seg-user")


def test_rudder_sdk_python_gzips_its_batches(local_app: str) -> None:
    from rudderstack.analytics import Client

    errors: list[Any] = []
    client = Client(SERVER_KEY, host=local_app, on_error=lambda e, batch: errors.append(e))
    assert client.gzip  # its default: the API inflates the body itself
    send_with(client, "rudder-user")
    assert errors == []
    checked(local_app, "rudder-user")


def test_a_wrong_write_key_is_reported_to_the_client(local_app: str) -> None:
    from segment.analytics import Client

    errors: list[Any] = []
    client = Client(
        "not-a-key", host=local_app, on_error=lambda e, b: errors.append(e), max_retries=0
    )
    client.track("someone", "x")
    client.flush()
    assert [getattr(e, "status", None) for e in errors] == [401]
