"""From the route to the send: every line under the request's correlation id, with no address,
phone number or token in any of them, and the EMF metrics of what happened."""

from __future__ import annotations

import io
import json
import logging

import pytest
from chalice.test import Client

from chalicelib import observability
from tests.integration.ingest_helpers import basic, post

WELCOME = """
name: welcome_now
trigger: {event: signed_up}
templates:
  hi:
    email: {subject: "Welcome, {{ contact.first_name }}", text: "Glad you are here"}
steps:
  - {id: hello, kind: send, channel: email, template: hi}
"""


def test_a_signup_is_followed_from_the_route_to_the_send(
    api: Client, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys
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
            "traits": {"email": "ann@example.com", "phone": "+4915112345678"},
        },
    )
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    observability.configure_logging(stream)  # as app.py does on Lambda
    monkeypatch.setenv("AUTOFUNNEL_METRICS", "on")
    capsys.readouterr()
    try:
        answer = post(
            api,
            "/v1/track",
            {"userId": "u-7", "messageId": "m2", "event": "signed_up"},
            headers={**basic(), "X-Correlation-Id": "req-4711"},
        )
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert answer.status_code == 200
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    by_message = {entry["message"]: entry for entry in lines}
    assert by_message["events stored"]["correlation_id"] == "req-4711"
    sent = by_message["message sent"]
    assert sent["correlation_id"] == "req-4711"
    assert (sent["channel"], sent["funnel"], sent["step"]) == ("email", "welcome_now", "hello")
    assert by_message["request"]["route"] == "/v1/track"
    assert by_message["request"]["status"] == 200
    everything = stream.getvalue() + capsys.readouterr().out
    for secret in ("ann@example.com", "4915112345678", "test-write-key", "test-signing-secret"):
        assert secret not in everything
    emf = [json.loads(text) for text in everything.splitlines() if '"_aws"' in text]
    assert any(document.get("EventsIn") == 1 for document in emf)
    assert any(
        document.get("MessagesSent") == 1 and document.get("channel") == "email" for document in emf
    )
