"""Admin contact endpoints: look-ups, the contact view, and GDPR erasure that leaves nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chalice.test import Client

from chalicelib.analytics.fold import LANES
from chalicelib.config import Settings
from chalicelib.storage.models import ALL_MODELS, Contact, Enrollment, Event, Identity, Message
from chalicelib.storage.schema import logical_name
from chalicelib.storage.tables import dynamodb_client
from tests.integration.ingest_helpers import contact_of, post


def item_counts(settings: Settings) -> dict[str, int]:
    """Items per table, as DynamoDB Local counts them (DescribeTable, no Scan)."""
    client = dynamodb_client(settings)
    return {
        logical_name(model): client.describe_table(
            TableName=settings.table_name(logical_name(model))
        )["Table"]["ItemCount"]
        for model in ALL_MODELS
    }


def test_lookup_needs_exactly_one_identity_and_normalises_it(
    api: Client, admin_headers: dict[str, str]
) -> None:
    post(api, "/v1/identify", {"userId": "u-1", "traits": {"email": "Dee@Example.com"}})
    assert contact_of(api, admin_headers, email="  DEE@example.COM ")["attributes"]["email"]
    none = api.http.get("/admin/contacts?email=nobody@example.com", headers=admin_headers)
    assert none.status_code == 200 and none.json_body == {"contacts": []}
    for query, field in [
        ("", "query"),
        ("?email=a@b.c&user_id=u", "query"),
        ("?email=nope", "email"),
    ]:
        response = api.http.get(f"/admin/contacts{query}", headers=admin_headers)
        assert response.status_code == 400
        assert response.json_body["field"] == field
    assert api.http.get("/admin/contacts?email=a@b.c").status_code == 401


def test_the_contact_view_has_profile_identities_and_a_newest_first_timeline(
    api: Client, admin_headers: dict[str, str]
) -> None:
    batch = [
        {"type": "track", "userId": "u-2", "event": f"e{n}", "timestamp": f"2026-11-2{n}T00:00:00Z"}
        for n in range(3)
    ]
    post(api, "/v1/batch", {"batch": batch})
    contact_id = contact_of(api, admin_headers, user_id="u-2")["contact_id"]
    view = api.http.get(f"/admin/contacts/{contact_id}?limit=2", headers=admin_headers).json_body
    assert [event["name"] for event in view["timeline"]] == ["e2", "e1"]
    assert view["identities"][0]["kind"] == "user" and view["identities"][0]["value"] == "u-2"
    bad = api.http.get(f"/admin/contacts/{contact_id}?limit=0", headers=admin_headers)
    assert bad.status_code == 400 and bad.json_body["field"] == "limit"


def test_erase_deletes_the_contact_and_everything_that_names_them(
    api: Client, admin_headers: dict[str, str], settings: Settings
) -> None:
    # The person to erase: two devices (so a merge tombstone), an enrollment and a message.
    post(
        api,
        "/v1/batch",
        {
            "batch": [
                {
                    "type": "page",
                    "anonymousId": "dev-1",
                    "properties": {"url": "https://s.test/?utm_source=x"},
                },
                {
                    "type": "identify",
                    "anonymousId": "dev-1",
                    "traits": {"email": "erase@example.com"},
                },
            ]
        },
    )
    post(api, "/v1/track", {"anonymousId": "dev-2", "event": "cart_updated"})
    absorbed = contact_of(api, admin_headers, anonymous_id="dev-2")["contact_id"]
    post(
        api,
        "/v1/identify",
        {"anonymousId": "dev-2", "traits": {"email": "erase@example.com", "phone": "+4791234567"}},
    )
    person = contact_of(api, admin_headers, email="erase@example.com")["contact_id"]
    now = datetime(2026, 11, 23, tzinfo=UTC)
    Enrollment(
        person,
        "welcome#1",
        enrollment_id="e1",
        funnel="welcome",
        funnel_version=1,
        status="active",
        started_at=now,
    ).save()
    Message(
        "m-erase",
        idempotency_key="k",
        contact_id=person,
        recorded_for=person,
        channel="email",
        address="erase@example.com",
        status="sent",
        created_at=now,
    ).save()
    # Someone else, who must be untouched.
    post(api, "/v1/identify", {"userId": "keeper", "traits": {"email": "keep@example.com"}})
    keeper = contact_of(api, admin_headers, user_id="keeper")
    before = item_counts(settings)

    response = api.http.delete(f"/admin/contacts/{absorbed}", headers=admin_headers)

    assert response.status_code == 200, response.body
    assert response.json_body["erased"] == person  # an absorbed id erases the person it became
    deleted = response.json_body["deleted"]
    assert deleted == {"identities": 4, "events": 5, "enrollments": 1, "messages": 1, "contacts": 2}
    after = item_counts(settings)
    assert after["contacts"] == before["contacts"] - 2 == 1
    assert after["identities"] == 2  # keeper's user id and email
    tallies = sum(len(list(Event.query(f"tally:{lane}"))) for lane in range(LANES))
    assert after["events"] - tallies == len(keeper["timeline"]) == 1  # tallies name nobody
    assert after["enrollments"] == after["messages"] == 0
    for key in ("anon:dev-1", "anon:dev-2", "email:erase@example.com", "phone:+4791234567"):
        with pytest.raises(Identity.DoesNotExist):
            Identity.get(key)
    for contact_id in (person, absorbed):
        with pytest.raises(Contact.DoesNotExist):
            Contact.get(contact_id)
        assert list(Event.query(contact_id)) == []
    assert contact_of(api, admin_headers, user_id="keeper")["contact_id"] == keeper["contact_id"]
    again = api.http.delete(f"/admin/contacts/{person}", headers=admin_headers)
    assert again.status_code == 404
    assert api.http.delete(f"/admin/contacts/{person}").status_code == 401
