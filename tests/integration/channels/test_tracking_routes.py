"""Click redirects and unsubscribe links, as the person following them sees them."""

from __future__ import annotations

import time

from chalice.test import Client

from chalicelib.channels import reachability
from chalicelib.channels.registry import CHANNELS
from chalicelib.channels.routing import choose_route
from chalicelib.config import Settings
from chalicelib.storage.models import Contact, Counter, Message
from chalicelib.tracking.links import tracked_url
from chalicelib.tracking.urls import unsubscribe_url
from tests.integration.channels.conftest import events_of, make_contact, make_message

LATER = int(time.time()) + 86400
EARLIER = int(time.time()) - 1


def path_of(url: str, settings: Settings) -> str:
    return url.removeprefix(settings.public_url)


def test_click_redirects_and_counts_every_click_but_reports_the_first(
    api: Client, settings: Settings
) -> None:
    make_contact("c1", email="ann@example.com")
    make_message("msg-1", "c1", "email", "ann@example.com")
    target = "https://shop.example/cart?utm_source=email&x=1"
    url = tracked_url(settings.public_url, settings.signing_secret, "msg-1", target, LATER)
    for _ in range(3):
        response = api.http.get(path_of(url, settings))
        assert response.status_code == 302
        assert response.headers["Location"] == target
    message = Message.get("msg-1")
    assert message.status == "clicked"
    assert [(e["status"], e["url"]) for e in message.status_history] == [("clicked", target)]
    assert Counter.get("message#msg-1", "clicks").value == 3


def test_a_bad_click_token_is_a_404_page_never_a_redirect(api: Client, settings: Settings) -> None:
    url = tracked_url(
        settings.public_url, "someone-elses-secret", "msg-1", "https://shop.example", LATER
    )
    for path in (path_of(url, settings), "/r/not-a-token", "/r/a.b"):
        response = api.http.get(path)
        assert response.status_code == 404
        assert "Location" not in response.headers
        assert response.headers["Content-Type"].startswith("text/html")


def test_an_expired_link_answers_a_clear_page_not_a_redirect(
    api: Client, settings: Settings
) -> None:
    make_contact("c1", email="ann@example.com")
    make_message("msg-1", "c1", "email", "ann@example.com")
    url = tracked_url(
        settings.public_url, settings.signing_secret, "msg-1", "https://shop.example/a", EARLIER
    )
    response = api.http.get(path_of(url, settings))
    assert response.status_code == 410 and "Location" not in response.headers
    assert b"This link has expired" in response.body
    assert b'href="https://shop.example"' in response.body  # the way on: the shop itself
    assert Message.get("msg-1").status == "sent"  # not a click


def test_a_genuine_token_to_a_host_off_the_allow_list_is_not_redirected(
    api: Client, settings: Settings
) -> None:
    """Signed before the allow-list lost the host: the signature alone is no longer enough."""
    make_message("msg-1", "c1", "email", "ann@example.com")
    url = tracked_url(
        settings.public_url, settings.signing_secret, "msg-1", "https://evil.example/x", LATER
    )
    response = api.http.get(path_of(url, settings))
    assert response.status_code == 404 and "Location" not in response.headers


def test_unsubscribe_page_asks_then_one_click_post_opts_out(
    api: Client, settings: Settings
) -> None:
    make_contact("c1", email="ann@example.com", phone="+12125550100")
    make_message("msg-1", "c1", "email", "ann@example.com")
    path = path_of(unsubscribe_url(settings, "msg-1", "c1", "email"), settings)

    page = api.http.get(path)  # mail scanners prefetch links: a GET must change nothing
    assert page.status_code == 200 and b'<form method="post">' in page.body
    assert Contact.get("c1").consents.as_dict() == {}

    done = api.http.post(
        path,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body="List-Unsubscribe=One-Click",
    )
    assert done.status_code == 200 and b"unsubscribed" in done.body
    consent = Contact.get("c1").consents.as_dict()["email"]
    assert consent["granted"] is False and consent["source"] == "unsubscribe_link"
    assert Message.get("msg-1").status == "unsubscribed"
    [(name, properties)] = events_of("c1")
    assert (name, properties["channel"]) == ("unsubscribed", "email")
    # Email is never chosen again; SMS still is.
    contact = reachability.load("c1")
    assert (
        choose_route(["email"], contact.addresses, contact.consents, contact.unreachable, CHANNELS)
        is None
    )
    assert choose_route(
        ["email", "sms"], contact.addresses, contact.consents, contact.unreachable, CHANNELS
    ) == (
        "sms",
        "+12125550100",
    )
    # A second POST (double click, mail client retry) adds nothing.
    api.http.post(path, headers={"Content-Type": "application/x-www-form-urlencoded"}, body="")
    assert len(events_of("c1")) == 1


def test_forged_unsubscribe_token_is_404(api: Client, settings: Settings) -> None:
    make_contact("c1", email="ann@example.com")
    forged = Settings(signing_secret="guess", public_url=settings.public_url)
    path = path_of(unsubscribe_url(forged, "msg-1", "c1", "email"), settings)
    response = api.http.post(
        path, headers={"Content-Type": "application/x-www-form-urlencoded"}, body=""
    )
    assert response.status_code == 404
    assert Contact.get("c1").consents.as_dict() == {}


def test_feedback_reaches_the_funnel_runtime(api: Client, settings: Settings) -> None:
    """A click and an unsubscribe on a message that no enrollment is waiting for are recorded
    and answered normally."""
    make_contact("c1", email="ann@example.com")
    make_message("msg-1", "c1", "email", "ann@example.com")
    click = tracked_url(
        settings.public_url, settings.signing_secret, "msg-1", "https://shop.example/", LATER
    )
    assert api.http.get(path_of(click, settings)).status_code == 302
    unsubscribe = path_of(unsubscribe_url(settings, "msg-1", "c1", "email"), settings)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert api.http.post(unsubscribe, headers=headers, body="").status_code == 200
    assert [entry["status"] for entry in Message.get("msg-1").status_history] == [
        "clicked",
        "unsubscribed",
    ]
