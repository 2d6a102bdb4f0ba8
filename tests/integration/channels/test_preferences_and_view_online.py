"""`links.preferences` opens a real preference page (each channel and topic switchable, signed
like the unsubscribe link) and `links.view_online` shows the message in the browser."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from autofunnel.timetravel import Stack
from chalicelib.config import Settings
from chalicelib.core import trust
from chalicelib.eventlog.entry import contact_subject
from chalicelib.storage import messages as message_store
from chalicelib.storage.models import Contact, Event, Identity, Message, MessageBody

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DEALS = """
name: weekly_deals
topic: promotions
trigger: {event: deals_ready}
reentry: {policy: always}
templates:
  deals:
    email:
      subject: "This week's deals"
      html: |
        <p>Deals for {{ contact.first_name }}.</p>
        <p><a href="{{ links.view_online }}">View in your browser</a> ·
        <a href="{{ links.preferences }}">Preferences</a> ·
        <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
steps:
  - {id: deals, kind: send, channel: email, template: deals}
"""


@pytest.fixture
def stack(settings: Settings) -> Stack:
    built = Stack.build(START)  # installed: the routes and the worker run on its clock
    built.publish("weekly_deals.yaml", DEALS)
    built.contact("vera", email="vera@example.com", first_name="Vera")
    Identity(
        "phone:+4915112345678",
        contact_id="vera",
        kind="phone",
        value="+4915112345678",
        created_at=START,
        proof=trust.SHOP,  # her shop account's number: proven, so texts may go to it
    ).save()
    return built


def links_in(contact_id: str) -> dict[str, str]:
    (message,) = [m for m in message_store.of_contact(contact_id) if m.status == "sent"][-1:]
    pattern = r'<a href="https://af\.example\.test(/[pv])/([^"]+)"'
    found = dict(re.findall(pattern, message_store.content_of(message)["html"]))
    return {"/p": f"/p/{found['/p']}", "/v": f"/v/{found['/v']}"}


def test_the_preference_page_switches_channels_and_topics(stack: Stack, api: Client) -> None:
    stack.event("vera", "deals_ready")
    links = links_in("vera")

    page = api.http.get(links["/p"])
    assert page.status_code == 200
    text = page.body.decode()
    boxes = dict(re.findall(r'name="on" value="([^"]+)"( checked)?', text))
    assert boxes == {
        "email": " checked",
        "sms": " checked",
        "whatsapp": " checked",  # a phone number reaches WhatsApp too
        "topic:promotions": " checked",
    }
    assert "Text messages (SMS)" in text and "Promotions" in text
    assert Contact.get("vera").consents.as_dict() == {}  # looking changes nothing

    saved = api.http.post(
        links["/p"],
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode({"save": "1", "on": "email"}),
    )
    assert saved.status_code == 200 and "Saved." in saved.body.decode()
    consents = Contact.get("vera").consents.as_dict()
    assert consents["sms"]["granted"] is consents["whatsapp"]["granted"] is False
    assert consents["topic:promotions"]["granted"] is False
    assert "email" not in consents
    # Each change is a consent entry of the log, filed under the contact (the worker applied it).
    names = [(e.name, e.properties.as_dict()) for e in Event.query(contact_subject("vera"))]
    assert any(n == "topic_unsubscribed" and p["topic"] == "promotions" for n, p in names)
    assert any(n == "unsubscribed" and p["channel"] == "sms" for n, p in names)
    assert not any(n == "unsubscribed" and p["channel"] == "email" for n, p in names)

    # The funnel's next send is about promotions: skipped for her now.
    stack.advance(timedelta(minutes=5))
    stack.event("vera", "deals_ready")
    assert len([m for m in message_store.of_contact("vera") if m.status == "sent"]) == 1

    # The same form again changes nothing; a forged token is a 404.
    again = api.http.post(
        links["/p"],
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode({"save": "1", "on": "email"}),
    )
    assert "Nothing changed." in again.body.decode()
    assert api.http.get(links["/p"][:-3] + "xyz").status_code == 404


def test_view_online_shows_the_message_as_sent_and_runs_nothing(stack: Stack, api: Client) -> None:
    stack.event("vera", "deals_ready")
    links = links_in("vera")
    shown = api.http.get(links["/v"])
    assert shown.status_code == 200
    assert "Deals for Vera." in shown.body.decode()
    policy = shown.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert api.http.get("/v/not-a-token").status_code == 404
    # A preferences token is no view token (and the other way round).
    assert api.http.get("/v/" + links["/p"][3:]).status_code == 404


def test_a_long_email_keeps_its_body_apart_and_still_shows_whole(
    stack: Stack, api: Client, admin_headers: dict[str, str]
) -> None:
    """An email's HTML over 2 KB is written once to its MessageBody: the message item, which
    each later status rewrites, keeps the subject; the browser view shows the whole email and
    erasing the contact deletes the body too."""
    rows = "".join(
        f"<p>Deal {n}: trail shoes, size {36 + n % 12}, EUR {49 + n}.</p>" for n in range(80)
    )
    stack.publish("weekly_deals.yaml", DEALS.replace("<p>Deals for", f"{rows}<p>Deals for"))
    stack.event("vera", "deals_ready")
    (message,) = [m for m in message_store.of_contact("vera") if m.status == "sent"]
    assert message.content["subject"] == "This week's deals"
    assert "html" not in message.content and message.content[message_store.APART] == ["html"]
    assert "Deal 79" in MessageBody.get(message.message_id).content["html"]

    shown = api.http.get(links_in("vera")["/v"]).body.decode()
    assert "Deal 0:" in shown and "Deals for Vera." in shown
    whole = api.http.get(f"/admin/messages/{message.message_id}", headers=admin_headers)
    assert whole.status_code == 200
    view = json.loads(whole.body)
    assert "Deal 79" in view["content"]["html"]
    assert view["content"]["subject"] == "This week's deals"
    assert [entry["status"] for entry in view["history"]] == ["sent"]
    assert api.http.get("/admin/messages/nope", headers=admin_headers).status_code == 404
    assert api.http.get(f"/admin/messages/{message.message_id}").status_code == 401

    from chalicelib.identity.erase import erase

    erase("vera")
    assert list(MessageBody.batch_get([message.message_id])) == []
    assert list(Message.batch_get([message.message_id])) == []
