"""Funnel management and the outbox over HTTP (Chalice test client, DynamoDB Local)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from chalice.test import Client

from autofunnel.timetravel import Stack  # identities, as the ingest API would store them
from chalicelib.storage.models import Contact, Enrollment

FUNNELS = Path(__file__).resolve().parents[3] / "funnels"
CART_YAML = (FUNNELS / "abandoned_cart.yaml").read_text()


def put(api: Client, name: str, body: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return api.http.put(
        f"/admin/funnels/{name}", body=body, headers={**headers, "Content-Type": "application/yaml"}
    )


def test_publish_versions_list_and_pause(api: Client, admin_headers: dict[str, str]) -> None:
    first = put(api, "abandoned_cart", CART_YAML, admin_headers)
    assert (first.status_code, first.json_body) == (
        201,
        {"name": "abandoned_cart", "version": 1, "created": True},
    )
    same = put(api, "abandoned_cart", CART_YAML, admin_headers)
    assert (same.status_code, same.json_body["version"], same.json_body["created"]) == (
        200,
        1,
        False,
    )
    changed = put(
        api, "abandoned_cart", CART_YAML.replace("duration: 30m", "duration: 45m"), admin_headers
    )
    assert changed.json_body["version"] == 2

    listed = api.http.get("/admin/funnels", headers=admin_headers).json_body["funnels"]
    assert [(f["name"], f["version"], f["state"]) for f in listed] == [
        ("abandoned_cart", 2, "active")
    ]
    paused = api.http.post("/admin/funnels/abandoned_cart/pause", headers=admin_headers)
    assert paused.json_body["state"] == "paused"
    detail = api.http.get("/admin/funnels/abandoned_cart", headers=admin_headers).json_body
    assert detail["state"] == "paused" and "duration: 45m" in detail["source"]


def test_invalid_funnel_is_422_with_file_line_and_field(
    api: Client, admin_headers: dict[str, str]
) -> None:
    broken = CART_YAML.replace("template: reminder_2", "template: no_such_template")
    response = put(api, "abandoned_cart", broken, admin_headers)
    assert response.status_code == 422
    (problem,) = response.json_body["problems"]
    assert problem["file"] == "abandoned_cart.yaml"
    assert problem["line"] == broken.splitlines().index("    template: no_such_template") + 1
    assert "no_such_template" in problem["message"]
    assert api.http.get("/admin/funnels", headers=admin_headers).json_body == {"funnels": []}


def test_name_mismatch_and_auth(api: Client, admin_headers: dict[str, str]) -> None:
    mismatch = put(api, "other", CART_YAML, admin_headers)
    assert mismatch.status_code == 400 and mismatch.json_body["field"] == "name"
    listed = api.http.get("/admin/funnels", headers=admin_headers).json_body
    assert listed["funnels"] == []  # refused before anything was stored
    assert put(api, "abandoned_cart", CART_YAML, {}).status_code == 401
    missing = api.http.post("/admin/funnels/nope/pause", headers=admin_headers)
    assert missing.status_code == 404


def test_enroll_by_api_and_outbox(api: Client, admin_headers: dict[str, str]) -> None:
    welcome = (
        (FUNNELS / "abandoned_cart.yaml")
        .read_text()
        .replace(
            "steps:\n",
            "steps:\n  - {id: hello, kind: send, channel: email, template: reminder_2}\n",
            1,
        )
        # The API runs on the real clock: no quiet hours, so the test passes at any hour.
        .replace('  quiet_hours: {start: "21:00", end: "08:00"}\n', "")
    )
    assert "quiet_hours" not in welcome
    put(api, "abandoned_cart", welcome, admin_headers)
    Stack.build(datetime.now(UTC)).contact("zoe", email="zoe@example.com")
    headers = {**admin_headers, "Content-Type": "application/json"}
    enrolled = api.http.post(
        "/admin/funnels/abandoned_cart/enroll", headers=headers, body='{"contact_id": "zoe"}'
    )
    assert (enrolled.status_code, enrolled.json_body) == (201, {"enrolled": True})
    again = api.http.post(
        "/admin/funnels/abandoned_cart/enroll", headers=headers, body='{"contact_id": "zoe"}'
    )
    assert again.json_body == {"enrolled": False}
    assert len(list(Enrollment.query("zoe"))) == 1
    outbox = api.http.get("/admin/outbox?contact_id=zoe", headers=admin_headers).json_body
    (message,) = outbox["messages"]
    assert (message["step_id"], message["channel"], message["status"]) == ("hello", "email", "sent")
    assert message["address"] == "zoe@example.com"
    assert message["content"]["subject"] == "Still thinking it over?"


def test_publishing_warns_about_links_that_would_go_out_untracked(
    api: Client, admin_headers: dict[str, str]
) -> None:
    guide = (FUNNELS / "telegram_guide.yaml").read_text()
    response = put(api, "telegram_guide", guide, admin_headers)
    assert response.status_code == 201, response.body
    warnings = response.json_body["warnings"]
    assert warnings and all("t.me" in w["message"] for w in warnings)
    assert all(w["file"] == "telegram_guide.yaml" and w["line"] > 1 for w in warnings)


def test_enrolling_a_merged_contact_in_a_listening_funnel_names_the_problem(
    api: Client, admin_headers: dict[str, str]
) -> None:
    """A funnel whose exit is a condition lists its enrollments on the contact item, which a
    merge tombstone no longer takes: the API says so instead of enrolling a contact gone."""
    listening = CART_YAML.replace("exit:\n", "exit:\n  - {condition: {tag: vip}, reason: vip}\n", 1)
    assert listening != CART_YAML
    put(api, "abandoned_cart", listening, admin_headers)
    Contact(contact_id="gone", merged_into="kept").save()
    headers = {**admin_headers, "Content-Type": "application/json"}
    refused = api.http.post(
        "/admin/funnels/abandoned_cart/enroll", headers=headers, body='{"contact_id": "gone"}'
    )
    assert refused.status_code == 409
    assert "merged" in refused.json_body["error"]
    assert not list(Enrollment.query("gone"))
