"""The first routes, through Chalice's test client, against DynamoDB Local."""

from __future__ import annotations

import json

from chalice.test import Client

from chalicelib.config import VERSION
from chalicelib.storage.models import Contact


def test_health_reports_version_stage_and_dynamodb(api: Client) -> None:
    response = api.http.get("/health")
    assert response.status_code == 200
    assert response.json_body == {
        "status": "ok",
        "version": VERSION,
        "stage": "test",
        "dynamodb": "ok",
    }


def test_health_is_503_when_tables_are_missing(api: Client, monkeypatch) -> None:
    monkeypatch.setattr(Contact.Meta, "table_name", "no-such-table")
    monkeypatch.setattr(Contact, "_connection", None)
    response = api.http.get("/health")
    assert response.status_code == 503
    assert response.json_body["status"] == "degraded"
    assert "unreachable" in response.json_body["dynamodb"]


def test_admin_contact_requires_the_admin_key(api: Client) -> None:
    missing = api.http.get("/admin/contacts/x")
    wrong = api.http.get("/admin/contacts/x", headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/json"
        assert "admin key" in json.loads(response.body)["error"]


def test_admin_contact_unknown_is_404_and_known_is_the_profile(
    api: Client, admin_headers: dict[str, str]
) -> None:
    Contact(contact_id="c-42", attributes={"first_name": "Ann"}).save()
    unknown = api.http.get("/admin/contacts/x", headers=admin_headers)
    known = api.http.get("/admin/contacts/c-42", headers=admin_headers)
    assert unknown.status_code == 404
    assert unknown.json_body == {"error": "no contact with id 'x'", "field": "contact_id"}
    assert known.status_code == 200
    assert known.json_body["contact_id"] == "c-42"
    assert known.json_body["attributes"] == {"first_name": "Ann"}
