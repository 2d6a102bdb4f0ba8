"""The dashboard in headless Chromium against `chalice local`, on tables seeded with the shop
population's 100 carts (50 of them end in orders; its 100 visitors who only looked are left out:
they change only the cohorts and the day's contacts, which
tests/integration/analytics/test_shop_population.py checks)
through the real ingest path: the funnel chart's numbers, a contact search opening the
timeline, an event property holding `<script>` shown as text and never run. Screenshots are
kept in tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from autofunnel.timetravel import Stack
from chalicelib import jobs
from chalicelib.config import Settings
from chalicelib.paging.budget import Budget
from tests.browser.local_server import chalice_local
from tests.conftest import ADMIN_KEY
from tests.integration.analytics.population import (
    START,
    World,
    shop_population,
    visitor,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PAYLOAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
SHOPPER = 42  # in the group that bought a day later
CARTS = 100  # the 50 buyers and 50 carts abandoned for good (three reminders each)


@pytest.fixture
def seeded_app(settings: Settings, api: Client) -> Iterator[str]:
    world = World(api, Stack.build(START))
    shop_population(world, visitors=CARTS, carts=CARTS)
    world.batch([world.track(visitor(SHOPPER), "note_left", note=PAYLOAD)])
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert world.run_job("/admin/jobs/rfm", headers)["job"]["counts"]["buyers"] == 50
    again, _ = jobs.start(jobs.RFM)  # a second run, left part-way: one page done
    jobs.paged_jobs().run(again["id"], Budget(0.01))
    with chalice_local({}) as url:
        yield url


@pytest.mark.slow
def test_dashboard_shows_the_funnel_and_a_contact_timeline(browser: Any, seeded_app: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 30)

    def ready(page: str) -> None:
        wait.until(lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == page)

    browser.set_window_size(1400, 1800)
    browser.get(f"{seeded_app}/dashboard")
    key = wait.until(lambda d: d.find_element(By.ID, "admin-key"))
    key.send_keys(ADMIN_KEY)
    browser.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
    ready("funnels")
    row = browser.find_element(By.CSS_SELECTOR, "#funnels tbody tr")
    assert row.text.split() == ["abandoned_cart", "active", "v1", "100", "0", "45", "45.0%",
                                "2,805.50", "1,600.50"]  # fmt: skip

    row.find_element(By.LINK_TEXT, "abandoned_cart").click()
    ready("funnel")
    chart = browser.execute_script(
        "const c = Chart.getChart('funnel-chart');"
        "return {labels: c.data.labels, data: c.data.datasets[0].data};"
    )
    assert chart == {
        "labels": ["entered", "wait_30m", "reminder_1", "wait_1d", "reminder_2", "wait_2d",
                   "reminder_3", "converted"],
        "data": [100, 100, 90, 90, 70, 70, 55, 45],
    }  # fmt: skip
    bars = browser.find_element(By.ID, "funnel-bars").text
    assert "reminder_1: 90" in bars and "converted: 45" in bars
    steps = {
        r.find_elements(By.TAG_NAME, "td")[0].text: [
            c.text for c in r.find_elements(By.TAG_NAME, "td")
        ]
        for r in browser.find_elements(By.CSS_SELECTOR, "#steps tbody tr")
    }
    assert steps["reminder_1"][2:9] == ["90", "90.0%", "90.0%", "90", "90", "20", "8"]
    assert steps["reminder_2"][-1] == "1d"  # median time since the previous step
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#funnel-graph svg"))
    graph = browser.find_element(By.ID, "funnel-graph").text
    assert "reminder_1" in graph
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-funnel.png"))

    browser.find_element(By.LINK_TEXT, "Contacts").click()
    ready("contacts")
    Select(browser.find_element(By.ID, "search-kind")).select_by_value("email")
    browser.find_element(By.ID, "search-value").send_keys(f"{visitor(SHOPPER)}@example.com")
    browser.find_element(By.CSS_SELECTOR, "#contact-search button").click()
    ready("contact")
    timeline = browser.find_element(By.ID, "timeline")
    assert PAYLOAD.replace('"', '\\"') in timeline.text  # JSON-quoted, shown as text
    assert browser.execute_script("return window.__pwned === undefined")
    assert timeline.find_elements(By.TAG_NAME, "img") == []
    assert timeline.find_elements(By.TAG_NAME, "script") == []
    ltv = browser.find_element(By.CSS_SELECTOR, "[data-figure=ltv] .value").text
    assert ltv == "80.50"
    messages = browser.find_element(By.ID, "messages").text
    assert "abandoned_cart / reminder_2" in messages
    enrollments = browser.find_element(By.ID, "enrollments").text
    assert "abandoned_cart v1 converted" in enrollments
    browser.save_screenshot(str(ARTIFACTS / "dashboard-contact.png"))

    browser.find_element(By.LINK_TEXT, "RFM").click()
    ready("rfm")
    counts = browser.execute_script(
        "return [...document.querySelectorAll('#rfm-grid td strong')]"
        ".reduce((sum, cell) => sum + Number(cell.textContent), 0)"
    )
    assert counts == 50
    assert browser.find_element(By.ID, "rfm-running").text.startswith("Scoring now:")
    browser.save_screenshot(str(ARTIFACTS / "dashboard-rfm.png"))

    browser.find_element(By.LINK_TEXT, "Jobs").click()
    ready("jobs")
    rows = browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == ["rfm", "rfm"]
    running, done = (r.find_elements(By.TAG_NAME, "td") for r in rows)  # newest first
    assert running[2].text == "running" and done[2].text == "done"
    progress = [float(r[3].find_element(By.TAG_NAME, "progress").get_attribute("value"))
                for r in (running, done)]  # fmt: skip
    assert 0 < progress[0] < 1 and progress[1] == 1
    assert done[3].text == "100.0%" and "buyers 50" in done[5].text
    browser.save_screenshot(str(ARTIFACTS / "dashboard-jobs.png"))


def test_the_dashboard_page_needs_no_cdn_and_forbids_inline_scripts(api: Client) -> None:
    page = api.http.get("/dashboard")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert "http" not in page.body.decode().split("<body>")[0]  # every asset is our own
    for path in ("assets/app.js", "assets/vendor/chart.umd.min.js", "assets/vendor/mermaid.min.js"):
        assert api.http.get(f"/dashboard/{path}").status_code == 200, path
    assert api.http.get("/dashboard/assets/..%2Fapp.py").status_code == 404
    data = api.http.get("/admin/stats/funnels")
    assert data.status_code == 401  # the figures need the admin key


def test_vendored_libraries_match_their_readme() -> None:
    vendor = Path(__file__).resolve().parents[2] / "chalicelib/static/dashboard/vendor"
    readme = (vendor / "README.md").read_text()
    assert "| `chart.umd.min.js` | `chart.js` (npm), `dist/chart.umd.min.js` | 4.5.1 |" in readme
    assert "Chart.js v4.5.1" in (vendor / "chart.umd.min.js").read_text()[:200]
    assert "| `mermaid.min.js` | `mermaid` (npm), `dist/mermaid.min.js` | 11.12.1 |" in readme
    assert 'version:"11.12.1"' in (vendor / "mermaid.min.js").read_text()
