"""The dashboard's preview in headless Chromium: a step rendered for a real contact, the email's
HTML in a sandboxed frame beside its text part, an SMS's encoding and segment count with the
warning past three segments. The screenshot is kept in tests/artifacts/preview.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from autofunnel.timetravel import Stack
from chalicelib.config import Settings
from tests.browser.local_server import chalice_local
from tests.conftest import ADMIN_KEY
from tests.integration.ingest_helpers import post

pytestmark = pytest.mark.slow  # `browser` follows from the fixture (tests/conftest.py)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LONG_SMS = """
name: long_sms
trigger: {event: back_in_stock}
templates:
  restock:
    sms:
      text: >-
        {{ contact.first_name }}, the hand-made ceramic mug you looked at is back in stock ☕
        We kept one aside for you until Sunday: every glaze, every size, the matching saucers
        and the new teapot too. Reply STOP to stop these texts; reply HELP for help. See you!
steps:
  - {id: restock, kind: send, channel: sms, template: restock}
"""


@pytest.fixture
def app_with_contact(settings: Settings, api: Client) -> Iterator[str]:
    stack = Stack.build(datetime.now(UTC))
    stack.publish("abandoned_cart.yaml")
    stack.publish("long_sms.yaml", LONG_SMS)
    post(
        api,
        "/v1/identify",
        {"userId": "u-9", "traits": {"email": "vera@example.com", "first_name": "Vera"}},
    )
    post(
        api,
        "/v1/track",
        {
            "userId": "u-9",
            "event": "cart_updated",
            "properties": {
                "items_count": 3,
                "total": 87.5,
                "currency": "EUR",
                "cart_url": "https://shop.example/cart/9",
                "items": [],
            },
        },
    )
    with chalice_local({}) as url:
        yield url


def test_the_preview_shows_the_email_in_a_sandbox_and_the_sms_segments(
    browser: Any, app_with_contact: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.set_window_size(1200, 1600)
    browser.get(f"{app_with_contact}/dashboard#/preview")
    wait.until(lambda d: d.find_element(By.ID, "admin-key")).send_keys(ADMIN_KEY)
    browser.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
    wait.until(lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == "preview")

    Select(browser.find_element(By.ID, "preview-funnel")).select_by_value("abandoned_cart")
    wait.until(lambda d: d.find_element(By.ID, "preview-result").get_attribute("data-step"))
    Select(browser.find_element(By.ID, "preview-step")).select_by_value("reminder_1")
    browser.find_element(By.ID, "preview-contact").send_keys("vera@example.com")
    browser.find_element(By.CSS_SELECTOR, "#preview-form button[type=submit]").click()
    wait.until(lambda d: "Vera" in d.find_element(By.ID, "preview-result").text)

    email = browser.find_element(By.CSS_SELECTOR, "[data-channel=email]")
    assert "Subject: Vera, your cart is waiting" in email.text
    assert "https://shop.example/cart/9" in email.find_element(By.CSS_SELECTOR, "pre").text
    frame = email.find_element(By.CSS_SELECTOR, "iframe")
    assert frame.get_attribute("sandbox") == ""  # no scripts, no same-origin, no forms
    browser.switch_to.frame(frame)
    assert "3 items" in browser.find_element(By.TAG_NAME, "body").text
    link = browser.find_element(By.CSS_SELECTOR, "a").get_attribute("href")
    assert link == "https://shop.example/cart/9"
    browser.switch_to.default_content()
    sms = browser.find_element(By.CSS_SELECTOR, "[data-channel=sms]")
    assert "GSM-7" in sms.text and "1 segment" in sms.text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "preview.png"))

    Select(browser.find_element(By.ID, "preview-funnel")).select_by_value("long_sms")
    wait.until(
        lambda d: d.find_element(By.ID, "preview-result").get_attribute("data-step") == "restock"
    )
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-channel=sms] .error"))
    long = browser.find_element(By.CSS_SELECTOR, "[data-channel=sms]")
    assert "UCS-2" in long.text  # the ☕ alone makes the whole text UCS-2
    assert "over 3" in long.find_element(By.CSS_SELECTOR, ".error").text
    browser.save_screenshot(str(ARTIFACTS / "preview-long-sms.png"))
