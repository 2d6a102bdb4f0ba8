"""The dashboard's Limits page in headless Chromium: a message held over the daily SMS limit is
shown with the day's figures, and "Send held" releases it."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.channels.registry import build_channels
from chalicelib.config import Settings
from chalicelib.runtime.dispatch import Dispatcher
from chalicelib.storage.models import Message
from tests.browser.local_server import chalice_local
from tests.conftest import ADMIN_KEY
from tests.integration.channels.conftest import make_contact
from tests.integration.channels.test_sending_caps import AFTERNOON, DE_PHONE, pending_sms

pytestmark = pytest.mark.slow  # `browser` follows from the fixture (tests/conftest.py)
LIMITS = '{"sms": 0}'


def test_held_messages_show_on_the_limits_page_and_can_be_sent(
    browser: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    monkeypatch.setenv("AUTOFUNNEL_DAILY_LIMITS", LIMITS)
    wiring.reset()
    live = wiring.storage()
    make_contact("c1", phone=DE_PHONE)
    pending_sms("b" * 32)
    dispatcher = Dispatcher(build_channels(live), live, lambda: AFTERNOON)
    assert dispatcher.dispatch(Message.get("b" * 32)) == "held"

    with chalice_local({"AUTOFUNNEL_DAILY_LIMITS": LIMITS}) as url:
        wait = WebDriverWait(browser, 30)
        browser.set_window_size(1400, 1000)
        browser.get(f"{url}/dashboard")
        key = wait.until(lambda d: d.find_element(By.ID, "admin-key"))
        wait.until(lambda d: key.is_displayed())  # the form shows once the script has run
        key.send_keys(ADMIN_KEY)
        browser.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()

        def ready(page: str) -> None:
            wait.until(lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == page)

        ready("funnels")
        browser.find_element(By.LINK_TEXT, "Limits").click()
        ready("limits")
        row = browser.find_element(By.CSS_SELECTOR, "#limits tbody tr").text
        assert row.split()[:4] == ["sms", "0", "0", "1"]
        assert "cart / reminder" in browser.find_element(By.ID, "held").text
        browser.execute_script("window.confirm = () => true")
        browser.find_element(By.CSS_SELECTOR, "button[data-action=release]").click()
        wait.until(lambda d: not d.find_elements(By.ID, "held"))
    assert Message.get("b" * 32).status == "pending"  # the next sweep sends it
