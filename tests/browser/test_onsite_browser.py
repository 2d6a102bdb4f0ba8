"""On-site messages in headless Chromium on /demo (a page with a strict Content-Security-Policy):
a funnel's chat bubble reaches the visitor who earned it and no one else, a click on its button
is recorded and takes the funnel's `clicked` branch; and story 3 on the local stack: an email
not opened in time becomes a popup on the next visit."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autofunnel.timetravel import Stack
from tests.browser.test_snippet_browser import admin_get, wait_for
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.slow  # `browser` follows from the fixture (tests/conftest.py)
FUNNELS = Path(__file__).resolve().parents[2] / "funnels"

CART_CHAT = """
name: cart_chat
trigger: {event: cart_updated}
policy: {quiet_hours: false}
templates:
  chat:
    onsite:
      style: chat
      title: Still thinking about the mug?
      html: "<p>It is <b>10% off</b> today.<script>window.pwned = 1</script></p>"
      buttons:
        - {text: Take 10% off, id: take_discount}
steps:
  - {id: chat, kind: send, channel: onsite, template: chat, expires: 1d}
  - id: reaction
    kind: wait_until
    reaction: clicked
    message: chat
    timeout: 1d
    on_met: clicked
    on_timeout: ignored
  - {id: clicked, kind: update, add_tags: [clicked_chat], next: end}
  - {id: ignored, kind: update, add_tags: [ignored_chat]}
"""


def publish(api: str, name: str, source: str) -> None:
    request = urllib.request.Request(
        f"{api}/admin/funnels/{name}",
        data=source.encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/yaml"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)


def open_demo(browser: Any, page_origin: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{page_origin}/demo?key=browser-key")
    wait = WebDriverWait(browser, 15)
    wait.until(lambda d: d.execute_script("return !!(window.autofunnel && autofunnel.loaded)"))
    # The demo shop's own sign-up popup (not a funnel's): out of the way.
    wait.until(ready.element_to_be_clickable((By.ID, "popup-close"))).click()


def polled_after_events(browser: Any) -> None:
    """The page's events were accepted and a poll after that was answered: whatever the visitor
    has waiting would be on the page by then."""
    wait_for(
        lambda: browser.execute_script(
            "return !JSON.parse(localStorage.getItem('af_queue') || '[]').length"
        ),
        timeout=30,
    )
    # The page coming back into view polls at once (as a visitor's returning tab would).
    before = browser.execute_script(
        "document.dispatchEvent(new Event('visibilitychange')); return autofunnel.polls"
    )
    wait_for(lambda: browser.execute_script("return autofunnel.polls") > before, timeout=30)


def onsite_message(browser: Any, timeout: float = 45) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(
        ready.visibility_of_element_located((By.CSS_SELECTOR, "[data-af-message]"))
    )


def contact_of(api: str, anonymous_id: str) -> dict[str, Any] | None:
    found = admin_get(api, f"/admin/contacts?anonymous_id={anonymous_id}")["contacts"]
    return found[0] if found else None


def test_the_chat_reaches_its_visitor_only_and_a_click_takes_the_clicked_branch(
    browser: Any, cross_origin_app: tuple[str, str]
) -> None:
    from selenium.webdriver.common.by import By

    api, page_origin = cross_origin_app
    publish(api, "cart_chat", CART_CHAT)
    open_demo(browser, page_origin)
    browser.find_element(By.ID, "add-to-cart").click()
    chat = onsite_message(browser)
    assert "Still thinking about the mug?" in chat.text
    assert "It is 10% off today." in chat.text
    assert browser.execute_script("return window.pwned") is None  # the script never ran
    assert (
        browser.execute_script(
            "return document.querySelectorAll('[data-af-message] script').length"
        )
        == 0
    )
    # Built under the demo's strict CSP (no 'unsafe-inline' styles): it is really styled.
    assert chat.value_of_css_property("position") == "fixed"
    assert chat.value_of_css_property("border-radius") == "16px 16px 4px"
    ann = browser.execute_script("return autofunnel.anonymousId()")

    # Another visitor: the demo on the API's own origin has storage and cookies of its own.
    ann_window = browser.current_window_handle
    browser.switch_to.new_window("window")
    open_demo(browser, api)
    browser.find_element(By.ID, "details").click()  # browsing, no cart
    bob = browser.execute_script("return autofunnel.anonymousId()")
    assert bob != ann
    polled_after_events(browser)
    assert browser.find_elements(By.CSS_SELECTOR, "[data-af-message]") == []
    browser.close()
    browser.switch_to.window(ann_window)

    chat.find_element(By.CSS_SELECTOR, "[data-af-button='take_discount']").click()
    assert browser.find_elements(By.CSS_SELECTOR, "[data-af-message]") == []

    def clicked_branch() -> dict[str, Any] | None:
        contact = contact_of(api, ann) or {}
        names = [e["name"] for e in contact.get("timeline", [])]
        tags = contact.get("tags") or []
        # The branch taken; and the reply button as an event, as a chat's would be.
        return contact if "clicked_chat" in tags and "button_clicked" in names else None

    contact = wait_for(clicked_branch, timeout=45)
    (message,) = [m for m in contact["messages"] if m["channel"] == "onsite"]
    assert message["status"] == "clicked"
    (enrollment,) = contact["enrollments"]
    assert enrollment["status"] == "completed"
    bob_contact = contact_of(api, bob)
    assert bob_contact is not None and bob_contact["messages"] == []


def test_story_3_an_email_not_opened_in_time_becomes_a_popup_on_the_next_visit(
    browser: Any, cross_origin_app: tuple[str, str]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    api, page_origin = cross_origin_app
    publish(api, "opened_or_popup", (FUNNELS / "opened_or_popup.yaml").read_text())
    browser.get(f"{page_origin}/demo?key=browser-key")
    wait = WebDriverWait(browser, 15)
    field = wait.until(ready.visibility_of_element_located((By.ID, "popup-email")))
    field.send_keys("vera@example.com")
    browser.find_element(By.CSS_SELECTOR, "#popup-form button[type=submit]").click()
    anonymous_id = browser.execute_script("return autofunnel.anonymousId()")

    def enrolled() -> dict[str, Any] | None:
        contact = contact_of(api, anonymous_id) or {}
        funnels = [e["funnel"] for e in contact.get("enrollments", [])]
        return contact if funnels == ["opened_or_popup"] else None

    wait_for(enrolled, timeout=45)
    wait_for(
        lambda: browser.execute_script(
            "return !JSON.parse(localStorage.getItem('af_queue')).length"
        )
    )
    browser.get("about:blank")  # Vera leaves the site (an open page would show the popup at once)

    # Email A goes out (at night, once quiet hours end), two days pass without an open: the
    # funnel switches channel. The local scheduler's wake-ups, fired with the clock moved on.
    stack = Stack.build(datetime.now(UTC))
    stack.advance(timedelta(days=3))
    contact = contact_of(api, anonymous_id)
    assert contact is not None
    sent = sorted((m["step_id"], m["channel"], m["status"]) for m in contact["messages"])
    assert sent == [("message_a", "email", "sent"), ("popup", "onsite", "sent")]

    # The next visit: the popup, once; its button is a link, and the click is recorded.
    browser.get(f"{page_origin}/demo?key=browser-key")
    popup = onsite_message(browser)
    assert "Did our email get lost?" in popup.text
    popup.find_element(By.CSS_SELECTOR, "[data-af-button='0']").click()

    def clicked() -> list[str] | None:
        found = contact_of(api, anonymous_id) or {}
        statuses = [m["status"] for m in found.get("messages", []) if m["step_id"] == "popup"]
        return statuses if statuses == ["clicked"] else None

    wait_for(clicked, timeout=45)
    browser.get(f"{page_origin}/demo?key=browser-key")
    polled_after_events(browser)
    assert browser.find_elements(By.CSS_SELECTOR, "[data-af-message]") == []  # shown once
