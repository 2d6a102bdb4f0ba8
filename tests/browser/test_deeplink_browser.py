"""The Telegram deep link in headless Chromium: the snippet fills the demo shop's "Get the guide
in Telegram" link with the bot's deep link for this visitor, the tap is tracked, and the bot's
/start with that link's token puts the chat on the visitor's contact."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from autofunnel.dynamodb_local import free_port
from chalicelib.config import Settings
from chalicelib.tracking.tokens import read_deeplink_token
from chalicelib.webhooks.credentials import derived_telegram_secret
from tests.browser.local_server import ANSWER_SECONDS, chalice_local
from tests.browser.test_snippet_browser import admin_get, wait_for

pytestmark = pytest.mark.slow  # `browser` follows from the fixture (tests/conftest.py)
SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
def bot_app(settings: Settings) -> Iterator[str]:
    port = free_port()
    api = f"http://127.0.0.1:{port}"  # the demo page loads /t.js from the public URL: this one
    env = {"PORT": str(port), "AUTOFUNNEL_PUBLIC_URL": api, "TELEGRAM_BOT_USERNAME": "shop_bot"}
    with chalice_local(env) as url:
        yield url


def post_start(api: str, token: str) -> Any:
    update = {
        "update_id": 9001,
        "message": {
            "message_id": 1,
            "from": {"id": 427913004, "is_bot": False, "first_name": "Olga"},
            "chat": {"id": 427913004, "first_name": "Olga", "type": "private"},
            "date": 1709542920,
            "text": f"/start {token}",
            "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
        },
    }
    request = urllib.request.Request(
        f"{api}/webhooks/telegram/shop_bot",
        data=json.dumps(update).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": derived_telegram_secret(SIGNING_SECRET, "shop_bot"),
        },
    )
    with urllib.request.urlopen(request, timeout=ANSWER_SECONDS) as response:
        return json.loads(response.read())


def test_the_snippet_links_the_visitor_to_their_telegram_chat(browser: Any, bot_app: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{bot_app}/demo")
    wait_for(lambda: browser.execute_script("return !!(window.autofunnel && autofunnel.loaded)"))
    anonymous_id = browser.execute_script("return autofunnel.anonymousId()")
    link = browser.find_element(By.ID, "telegram-guide")
    href = wait_for(
        lambda: (lambda h: h if h.startswith("https://t.me/shop_bot?start=") else None)(
            link.get_attribute("href")
        )
    )
    token = parse_qs(urlsplit(href).query)["start"][0]
    assert read_deeplink_token(SIGNING_SECRET, token, 0).anonymous_id == anonymous_id
    assert (
        browser.execute_async_script(
            "var done = arguments[0]; autofunnel.telegramLink().then(done);"
        )
        == href
    )

    # The page's own popup opens 1.5 s after loading, over the link: close it first.
    WebDriverWait(browser, ANSWER_SECONDS).until(
        ready.visibility_of_element_located((By.ID, "popup-close"))
    ).click()
    WebDriverWait(browser, ANSWER_SECONDS).until(
        ready.invisibility_of_element_located((By.ID, "popup"))
    )
    # The tap is tracked (a real tap would leave for t.me: this page stays, no network).
    browser.execute_script(
        "document.getElementById('telegram-guide')"
        ".addEventListener('click', function (e) { e.preventDefault(); });"
    )
    link.click()

    def tapped() -> dict[str, Any] | None:
        found = admin_get(bot_app, f"/admin/contacts?anonymous_id={anonymous_id}")["contacts"]
        names = {event["name"] for event in found[0]["timeline"]} if found else set()
        return found[0] if "telegram_cta_clicked" in names else None

    visitor = wait_for(tapped)
    assert post_start(bot_app, token)["stored"] == [
        "identify",
        "messenger_started",
        "channel_linked",
    ]
    # The stream worker links the chat moments after the webhook's answer.
    chat = wait_for(lambda: admin_get(bot_app, "/admin/contacts?telegram=427913004")["contacts"])
    assert [c["contact_id"] for c in chat] == [visitor["contact_id"]]
