"""Ingest → funnel → outbox through the real HTTP routes: what an operator sees on a contact."""

from __future__ import annotations

from chalice.test import Client

from tests.integration.ingest_helpers import contact_of, post

WELCOME = """
name: welcome_now
trigger: {event: signed_up}
templates:
  hi:
    email: {subject: "Welcome, {{ contact.first_name }}", text: "Glad you are here"}
steps:
  - {id: hello, kind: send, channel: email, template: hi}
  - {id: pause, kind: wait, duration: 2d}
  - {id: again, kind: send, channel: email, template: hi}
"""


def test_an_event_enrolls_the_contact_and_the_welcome_lands_in_the_outbox(
    api: Client, admin_headers: dict[str, str]
) -> None:
    published = api.http.put(
        "/admin/funnels/welcome_now",
        body=WELCOME,
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert published.status_code == 201
    post(
        api,
        "/v1/identify",
        {
            "userId": "u-7",
            "messageId": "m1",
            "traits": {"email": "ann@example.com", "first_name": "Ann"},
        },
    )
    post(api, "/v1/track", {"userId": "u-7", "messageId": "m2", "event": "signed_up"})

    contact = contact_of(api, admin_headers, email="ann@example.com")
    (enrollment,) = contact["enrollments"]
    assert (enrollment["funnel"], enrollment["version"], enrollment["status"]) == (
        "welcome_now",
        1,
        "active",
    )
    assert enrollment["current_step"] == "pause" and enrollment["next_wakeup"]
    (message,) = contact["messages"]
    assert (message["step_id"], message["channel"], message["status"], message["address"]) == (
        "hello",
        "email",
        "sent",
        "ann@example.com",
    )
    assert message["content"]["subject"] == "Welcome, Ann"

    outbox = api.http.get("/admin/outbox", headers=admin_headers).json_body["messages"]
    assert [m["message_id"] for m in outbox] == [message["message_id"]]

    # The same track call retried by the client changes nothing.
    post(api, "/v1/track", {"userId": "u-7", "messageId": "m2", "event": "signed_up"})
    again = contact_of(api, admin_headers, email="ann@example.com")
    assert len(again["enrollments"]) == 1 and len(again["messages"]) == 1
