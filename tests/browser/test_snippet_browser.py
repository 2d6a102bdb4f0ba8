"""The snippet in headless Chromium: the demo page on one origin, the API on another (real CORS),
browsing, an email typed into the popup but never submitted, an add-to-cart click."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from autofunnel.dynamodb_local import free_port
from chalicelib.config import Settings
from chalicelib.ingest.verification import identity_hash
from tests.browser.local_server import ANSWER_SECONDS, chalice_local
from tests.conftest import ADMIN_KEY, IDENTITY_SECRET

pytestmark = pytest.mark.slow  # `browser` follows from the fixture (tests/conftest.py)
EMAIL = "visitor@example.com"
CARD = "4242424242424242"


@pytest.fixture
def cross_origin_app(settings: Settings) -> Iterator[tuple[str, str]]:
    """The API on 127.0.0.1 and the demo page opened from localhost: two origins."""
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    page_origin = f"http://localhost:{port}"
    env = {
        "PORT": str(port),
        "AUTOFUNNEL_PUBLIC_URL": api,
        "AUTOFUNNEL_WRITE_KEYS": json.dumps({"browser-key": [page_origin]}),
    }
    with chalice_local(env) as url:
        assert url == api
        yield api, page_origin


def admin_get(api: str, path: str) -> Any:
    request = urllib.request.Request(api + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    with urllib.request.urlopen(request, timeout=ANSWER_SECONDS) as response:
        return json.loads(response.read())


def wait_for(check: Any, timeout: float = 3 * ANSWER_SECONDS) -> Any:
    """Polls `check` until it answers. Generous: the snippet sends one request at a time, and
    on a busy machine each of a visit's requests takes seconds, and the stream worker follows."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out; last result: {last!r}")


def test_demo_shop_visit_becomes_one_identified_contact(
    browser: Any, cross_origin_app: tuple[str, str]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    api, page_origin = cross_origin_app
    utm = urlencode(
        {
            "key": "browser-key",
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_campaign": "spring",
        }
    )
    browser.get(f"{page_origin}/demo?{utm}")
    wait = WebDriverWait(browser, ANSWER_SECONDS)
    wait.until(
        lambda driver: driver.execute_script("return !!(window.autofunnel && autofunnel.loaded)")
    )
    anonymous_id = browser.execute_script("return autofunnel.anonymousId()")

    # The page opens its popup 1.5 s after loading, over everything: deal with it first (on a
    # busy machine the steps below take longer than that, and the popup would catch a click).
    wait.until(ready.visibility_of_element_located((By.ID, "popup-email")))
    field = browser.find_element(By.ID, "popup-email")
    field.send_keys(EMAIL)
    field.send_keys(Keys.TAB)  # leave the field; the popup form is never submitted
    browser.find_element(By.ID, "popup-close").click()
    wait.until(ready.invisibility_of_element_located((By.ID, "popup")))
    opted_out = browser.find_element(By.ID, "newsletter-email")  # in a data-af-capture="off" form
    opted_out.send_keys("optout@example.com")
    opted_out.send_keys(Keys.TAB)
    browser.find_element(By.ID, "details").click()  # a single-page-app navigation
    browser.find_element(By.ID, "add-to-cart").click()
    browser.find_element(By.ID, "go-checkout").click()
    card = browser.find_element(By.ID, "card-number")
    card.send_keys(CARD)
    card.send_keys(Keys.TAB)
    password = browser.find_element(By.ID, "password")
    password.send_keys("hunter2-secret")
    password.send_keys(Keys.TAB)

    # The snippet sends its queue in several batches, and a later one may be stored before an
    # earlier one (retried, or slower on a busy machine): the contact read then would have the
    # cart but not yet the landing page, so "direct" as its first touch. Read it once every
    # call was accepted (the queue is empty; a 2xx means stored).
    wait_for(lambda: browser.execute_script("return localStorage.getItem('af_queue') == '[]'"))

    def handled() -> dict[str, Any] | None:
        """The contact once the stream worker has handled the visit (it follows the 2xx)."""
        found = admin_get(api, f"/admin/contacts?email={EMAIL}")["contacts"]
        names = {e["name"] for e in found[0]["timeline"]} if found else set()
        done = (
            found and found[0]["page_views"] >= 2 and {"cart_updated", "checkout_started"} <= names
        )
        return found[0] if done else None

    contact = wait_for(handled)
    assert contact["page_views"] == 2  # the landing page and the in-app navigation
    assert contact["sessions"] == 1
    assert contact["first_touch"]["source"] == "newsletter"
    assert contact["first_touch"]["campaign"] == "spring"
    identities = {(i["kind"], i["value"]) for i in contact["identities"]}
    assert identities == {("anon", anonymous_id), ("email", EMAIL)}
    assert contact["attributes"]["email"] == EMAIL
    opened = [e for e in contact["timeline"] if e["name"] == "demo_opened"]
    assert [e["properties"] for e in opened] == [{"shop": "demo"}]  # queued before t.js loaded
    cart = next(e for e in contact["timeline"] if e["name"] == "cart_updated")
    assert cart["properties"] == {
        "product_id": "mug-350",
        "price": 29,
        "quantity": 1,
        "cart_total": 29,
    }
    assert admin_get(api, "/admin/contacts?email=optout@example.com")["contacts"] == []
    everything = json.dumps(contact)
    assert CARD not in everything and "hunter2" not in everything  # never captured
    assert "optout@example.com" not in everything
    # The same anonymous id finds the same (single) contact.
    by_device = admin_get(api, f"/admin/contacts?anonymous_id={anonymous_id}")["contacts"]
    assert [c["contact_id"] for c in by_device] == [contact["contact_id"]]


def test_a_failed_send_is_retried_and_stored_once(
    browser: Any, cross_origin_app: tuple[str, str]
) -> None:
    api, page_origin = cross_origin_app
    browser.get(f"{page_origin}/demo?key=browser-key")
    browser.execute_script(
        """
        // Simulate the API being unreachable for the first sends, then back.
        window.__realFetch = window.fetch; window.__fails = 2;
        window.fetch = function (url, init) {
          if (window.__fails-- > 0) return Promise.reject(new TypeError('offline'));
          return window.__realFetch(url, init);
        };
        autofunnel.track('retry_me', {n: 1});
        """
    )
    anonymous_id = browser.execute_script("return autofunnel.anonymousId()")

    def stored() -> list[dict[str, Any]] | None:
        found = admin_get(api, f"/admin/contacts?anonymous_id={anonymous_id}")["contacts"]
        events = found[0]["timeline"] if found else []
        return [e for e in events if e["name"] == "retry_me"] or None

    events = wait_for(stored)
    assert len(events) == 1  # retried, stored once


def test_a_signed_in_customers_hash_rides_on_their_calls_and_their_order_counts(
    browser: Any, cross_origin_app: tuple[str, str]
) -> None:
    """The shop's page passes the identity hash its server computed; the snippet sends it with
    every call of that user, so the order is proof. A stranger's order without it is a claim."""
    api, page_origin = cross_origin_app
    browser.get(f"{page_origin}/demo?key=browser-key")
    signed = identity_hash(IDENTITY_SECRET, "cust-7")
    browser.execute_script(
        f"""
        autofunnel.identify('cust-7', {{email: 'cust7@example.com'}}, {{userHash: '{signed}'}});
        autofunnel.track('Order Completed', {{order_id: 'o-7', total: 80}});
        """
    )

    def counted() -> dict[str, Any] | None:
        found = admin_get(api, "/admin/contacts?user_id=cust-7")["contacts"]
        return found[0] if found and found[0]["orders_count"] else None

    contact = wait_for(counted)
    assert contact["orders_count"] == 1 and contact["total_spent"] == 80
    proofs = {i["kind"]: i["proof"] for i in contact["identities"]}
    assert proofs["user"] == proofs["email"] == "identity_hash"
    assert "userHash" not in json.dumps(contact)  # a credential: never stored

    browser.execute_script(
        "autofunnel.reset(); autofunnel.track('Order Completed', {order_id: 'x', total: 999});"
    )
    stranger = browser.execute_script("return autofunnel.anonymousId()")

    def stored() -> dict[str, Any] | None:
        found = admin_get(api, f"/admin/contacts?anonymous_id={stranger}")["contacts"]
        return found[0] if found and found[0]["timeline"] else None

    assert wait_for(stored)["orders_count"] == 0
