"""Fixtures of the browser tests: the app under `chalice local`, and headless Chromium."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from autofunnel.dynamodb_local import free_port
from chalicelib.config import Settings
from tests.browser.local_server import chalice_local

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return "chromium is not installed (apt-get install chromium chromium-driver)"
    if not Path(CHROMEDRIVER).exists():
        return "chromedriver is not installed (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test worker: starting one costs more than most browser tests."""
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="af-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(chromium: Any) -> Iterator[Any]:
    """The worker's Chromium; after the test it is left as a fresh one would be."""
    size = chromium.get_window_size()
    yield chromium
    forget_the_test(chromium, size)


def forget_the_test(driver: Any, size: dict[str, int]) -> None:
    """Leave the pages (their timers and queued sends stop), then clear what they stored:
    each visited origin's storage (the snippet's localStorage queue), cookies and cache."""
    history = driver.execute_cdp_cmd("Page.getNavigationHistory", {})["entries"]
    origins = {
        f"{url.scheme}://{url.netloc}"
        for url in (urlsplit(entry["url"]) for entry in history)
        if url.scheme in ("http", "https")
    }
    for handle in driver.window_handles[1:]:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(driver.window_handles[0])
    driver.get("about:blank")
    for origin in origins:
        driver.execute_cdp_cmd(
            "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"}
        )
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.execute_cdp_cmd("Page.resetNavigationHistory", {})
    driver.set_window_size(size["width"], size["height"])


@pytest.fixture
def local_app(settings: Settings) -> Iterator[str]:
    """The app under `chalice local`, on this test's fresh tables; yields its base URL."""
    with chalice_local({}) as url:
        yield url


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
