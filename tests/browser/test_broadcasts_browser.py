"""The dashboard's Broadcasts page in headless Chromium: a broadcast sending shows its progress
bar and counts, refreshed while pages go out; one that finished shows its step's figures.
Screenshots are kept in tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from autofunnel.timetravel import Stack
from chalicelib import jobs
from chalicelib.analytics import segment_store
from chalicelib.analytics.contact_stats import CONTACT_SHARDS, shard
from chalicelib.config import Settings
from chalicelib.core.segments import parse_segment
from chalicelib.eventlog.entry import STATUS, VERIFIED, Entry, message_subject
from chalicelib.paging.budget import Budget
from chalicelib.storage import messages as message_store
from chalicelib.storage.models import Contact, ContactStats, Identity
from tests.browser.local_server import chalice_local
from tests.browser.test_snippet_browser import wait_for
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.slow  # `browser` follows from the fixture (tests/conftest.py)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
NOW = datetime.now(UTC).replace(hour=11, minute=0)  # daytime in Berlin, where they all live
MEMBERS = 120
SEGMENT = {"condition": {"attributes": {"vip": True}}}


def sale(name: str) -> dict[str, Any]:
    return {
        "segment": "vips",
        "channel": "email",
        "content": {"email": {"subject": f"{name}: 30% off", "text": "Spring sale"}},
    }


@pytest.fixture
def shop(settings: Settings, api: Client) -> Iterator[tuple[str, Stack]]:
    stack = Stack.build(NOW)
    segment_store.save(parse_segment("vips", SEGMENT), SEGMENT["condition"], NOW)
    with (
        Contact.batch_write() as contacts,
        Identity.batch_write() as identities,
        ContactStats.batch_write() as stats,
    ):
        for n in range(MEMBERS):
            cid = f"m{n:03d}"
            contacts.save(
                Contact(contact_id=cid, attributes={"vip": True}, timezone="Europe/Berlin")
            )
            identities.save(
                Identity(
                    f"email:{cid}@example.com",
                    contact_id=cid,
                    kind="email",
                    value=f"{cid}@example.com",
                    created_at=NOW,
                )
            )
            stats.save(
                ContactStats(
                    cid, shard=shard(cid, "c", CONTACT_SHARDS), first_seen=NOW, segments={"vips"}
                )
            )
    broadcasts = jobs.broadcasts()  # on the stack's application (installed) and its clock
    broadcasts.save("winter", sale("winter"))
    jobs.drain()
    first = message_store.of_contact("m000")[0]  # someone opened and clicked it
    stack.append(  # the click's redirect appends it; the worker records it and counts it
        Entry(
            subject=message_subject(first.message_id),
            event_id="click:1",
            type=STATUS,
            name="clicked",
            timestamp=NOW + timedelta(minutes=3),
            source="click",
            trust=VERIFIED,
        )
    )
    started, _ = broadcasts.save("spring", sale("spring"))
    jobs.paged_jobs().run(started["job"]["id"], Budget(0.01))  # one page sent
    with chalice_local({}) as url:
        yield url, stack


def test_the_broadcasts_page_shows_progress_while_it_sends_and_the_figures_after(
    browser: Any, shop: tuple[str, Stack]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = shop
    wait = WebDriverWait(browser, 30)

    browser.set_window_size(1300, 1100)
    browser.get(f"{url}/dashboard#/broadcasts")
    wait.until(lambda d: d.find_element(By.ID, "admin-key")).send_keys(ADMIN_KEY)
    browser.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()

    def table() -> dict[str, list[Any]] | None:
        """The list's rows by name: their cells' text, then the progress bar's value. Read in one
        script: while a broadcast sends, the page renders itself again every 2 s, emptying the
        view until the API answers (seconds on a busy machine), so rows read one by one may
        vanish or go stale between two reads. None while the list is not fully rendered."""
        return browser.execute_script(  # type: ignore[no-any-return]
            "const view = document.getElementById('view');"
            "if (view.dataset.ready !== 'broadcasts') return null;"
            "if (location.hash !== '#/broadcasts') return null;"
            "return Object.fromEntries([...view.querySelectorAll('#broadcasts tbody tr')].map("
            "  (tr) => [tr.cells[0].textContent, [...[...tr.cells].map((td) => td.textContent),"
            "    Number(tr.cells[3].querySelector('progress').value)]]));"
        )

    rows = wait_for(table, timeout=30)
    spring = rows["spring"]
    assert spring[2] == "sending"
    sent_before = int(spring[4].replace(",", ""))
    assert 0 < spring[-1] < 1 and 0 < sent_before < MEMBERS
    assert [rows["winter"][2], rows["winter"][4]] == ["done", f"{MEMBERS}"]
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-broadcasts-sending.png"))

    # More pages go out: the page refreshes itself (every 2 s while one sends).
    jobs.drain()

    def finished() -> list[str] | None:
        rows = table()
        return rows["spring"] if rows and rows["spring"][2] == "done" else None

    spring = wait_for(finished, timeout=30)
    assert spring[-1] == 1.0 and spring[4] == f"{MEMBERS}"

    browser.find_element(By.LINK_TEXT, "winter").click()
    # The list was `broadcasts` too: wait for the broadcast's own view, rendered to its end.
    wait.until(
        lambda d: d.execute_script(
            "return document.getElementById('view').dataset.ready === 'broadcasts'"
            " && !!document.getElementById('broadcast-stats')"
        )
    )
    figures = {
        card.get_attribute("data-figure"): card.find_element(By.CSS_SELECTOR, ".value").text
        for card in browser.find_elements(By.CSS_SELECTOR, "#broadcast-stats .card")
    }
    assert figures["stat-sent"] == f"{MEMBERS}"
    assert (figures["stat-opened"], figures["stat-clicked"]) == ("1", "1")
    assert "done" in browser.find_element(By.ID, "broadcast-status").text
    browser.save_screenshot(str(ARTIFACTS / "dashboard-broadcast.png"))
