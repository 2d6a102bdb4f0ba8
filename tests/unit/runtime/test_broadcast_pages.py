"""A paced broadcast's pages stay short enough that the sweeper never takes a send waiting for
its turn for an interrupted one (and sends it a second time)."""

from __future__ import annotations

from chalicelib.core.broadcast import parse_broadcast
from chalicelib.runtime.broadcast_jobs import PACED_PAGE, PAGE_SIZE, paced_page
from chalicelib.runtime.dispatch import STUCK_AFTER

SALE = {
    "segment": "vips",
    "channels": ["email", "sms"],
    "content": {"email": {"subject": "Sale", "text": "20% off"}, "sms": {"text": "20% off"}},
}


def pages(pace: dict[str, str]) -> int:
    return paced_page(parse_broadcast("spring", {**SALE, "pace": pace}))


def test_a_paced_page_sends_within_half_the_sweepers_patience() -> None:
    assert PACED_PAGE * 2 == STUCK_AFTER
    assert pages({}) == PAGE_SIZE  # unpaced: the providers' own limits defer, never wait long
    assert pages({"email": "50/s"}) == PAGE_SIZE
    assert pages({"email": "50/s", "sms": "30/min"}) == 30  # the slowest channel decides
    assert pages({"sms": "1/min"}) == 1  # the slowest pace allowed: one send a page
