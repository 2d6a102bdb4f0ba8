"""One contact per person: identify links, cross-device merges, merge protection, the profile."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from chalice.test import Client

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.eventlog.append import append
from chalicelib.ingest.entries import call_entry
from chalicelib.ingest.spec import parse_call
from chalicelib.storage.models import Contact, Enrollment, Event, Identity, Message
from tests.conftest import SERVER_KEY, WRITE_KEY
from tests.integration.ingest_helpers import basic, contact_of, post

T0 = "2026-11-20T10:00:00Z"


def page(anon: str, at: str, url: str, referrer: str = "", **extra: object) -> dict:
    return {
        "type": "page",
        "anonymousId": anon,
        "timestamp": at,
        "properties": {"url": url, "referrer": referrer},
        **extra,
    }


def test_page_views_sessions_and_first_and_last_touch(
    api: Client, admin_headers: dict[str, str]
) -> None:
    landing = "https://shop.test/?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
    batch = [
        page("a-1", "2026-11-20T10:00:00Z", landing, context={"sessionStart": True}),
        page("a-1", "2026-11-20T10:01:00Z", "https://shop.test/p/1", "https://shop.test/"),
        page(
            "a-1",
            "2026-11-22T09:00:00Z",
            "https://shop.test/",
            "https://www.google.com/",
            context={"sessionStart": True},
        ),
    ]
    assert post(api, "/v1/batch", {"batch": batch}).status_code == 200
    contact = contact_of(api, admin_headers, anonymous_id="a-1")
    assert contact["page_views"] == 3
    assert contact["sessions"] == 2
    assert contact["first_touch"]["source"] == "newsletter"
    assert contact["first_touch"]["medium"] == "email"
    assert contact["first_touch"]["campaign"] == "spring"
    assert contact["last_touch"]["source"] == "www.google.com"
    assert contact["first_seen"].startswith("2026-11-20T10:00:00")
    assert contact["last_seen"].startswith("2026-11-22T09:00:00")


def test_late_events_do_not_move_last_seen_back(api: Client, admin_headers: dict[str, str]) -> None:
    post(
        api,
        "/v1/track",
        {"anonymousId": "a-2", "event": "new", "timestamp": "2026-11-22T00:00:00Z"},
    )
    post(
        api,
        "/v1/track",
        {"anonymousId": "a-2", "event": "old", "timestamp": "2026-11-01T00:00:00Z"},
    )
    contact = contact_of(api, admin_headers, anonymous_id="a-2")
    assert contact["first_seen"].startswith("2026-11-01")
    assert contact["last_seen"].startswith("2026-11-22")


def test_orders_count_and_total_spent(api: Client, admin_headers: dict[str, str]) -> None:
    """Orders a server key reports count (a public write key's would stay events)."""
    for n, (name, total) in enumerate([("Order Completed", 20.5), ("order_completed", "9.5")]):
        post(
            api,
            "/v1/track",
            {
                "userId": "buyer",
                "event": name,
                "messageId": f"o{n}",
                "properties": {"total": total},
            },
            basic(SERVER_KEY),
        )
    post(
        api, "/v1/track", {"userId": "buyer", "event": "cart_updated", "properties": {"total": 99}}
    )
    contact = contact_of(api, admin_headers, user_id="buyer")
    assert contact["orders_count"] == 2
    assert contact["total_spent"] == 30
    assert contact["last_order_at"]


def test_identify_sets_traits_newest_wins_and_consents(
    api: Client, admin_headers: dict[str, str]
) -> None:
    post(
        api,
        "/v1/identify",
        {
            "anonymousId": "a-3",
            "timestamp": "2026-11-20T10:00:00Z",
            "traits": {"name": "Ann", "plan": "free"},
        },
    )
    post(
        api,
        "/v1/identify",
        {
            "anonymousId": "a-3",
            "timestamp": "2026-11-21T10:00:00Z",
            "traits": {
                "plan": "pro",
                "email": "Ann@Example.COM",
                "phone": "+1 (415) 555-2671",
                "consents": {"email": True, "sms": False},
            },
        },
    )
    contact = contact_of(api, admin_headers, email="ann@example.com")
    assert contact["attributes"] == {
        "name": "Ann",
        "plan": "pro",
        "email": "Ann@Example.COM",
        "phone": "+1 (415) 555-2671",
    }
    assert contact["consents"]["email"]["granted"] is True
    assert contact["consents"]["sms"]["granted"] is False
    kinds = {(i["kind"], i["value"]) for i in contact["identities"]}
    assert kinds == {("anon", "a-3"), ("email", "ann@example.com"), ("phone", "+14155552671")}
    by_phone = contact_of(api, admin_headers, phone="+14155552671")
    assert by_phone["contact_id"] == contact["contact_id"]


def test_cross_device_the_same_email_merges_two_contacts(
    api: Client, admin_headers: dict[str, str]
) -> None:
    laptop = [
        page(
            "laptop",
            "2026-11-20T10:00:00Z",
            "https://shop.test/?utm_source=ads",
            context={"sessionStart": True},
        ),
        {
            "type": "identify",
            "anonymousId": "laptop",
            "timestamp": "2026-11-20T10:05:00Z",
            "traits": {"email": "bob@example.com", "name": "Bob", "city": "Oslo"},
        },
    ]
    phone = [
        page(
            "phone", "2026-11-21T08:00:00Z", "https://shop.test/p/2", context={"sessionStart": True}
        ),
        {
            "type": "track",
            "anonymousId": "phone",
            "event": "cart_updated",
            "timestamp": "2026-11-21T08:01:00Z",
        },
    ]
    post(api, "/v1/batch", {"batch": laptop})
    post(api, "/v1/batch", {"batch": phone})
    phone_contact = contact_of(api, admin_headers, anonymous_id="phone")
    laptop_contact = contact_of(api, admin_headers, anonymous_id="laptop")
    assert phone_contact["contact_id"] != laptop_contact["contact_id"]
    # The runtime's items for the phone contact move with it.
    Enrollment(
        phone_contact["contact_id"],
        "cart#2026-11-21#e1",
        enrollment_id="e1",
        funnel="cart",
        funnel_version=1,
        status="active",
        state={"step": "m1"},
        started_at=datetime(2026, 11, 21, tzinfo=UTC),
        wake_token=3,
    ).save()
    Message(
        "msg-1",
        idempotency_key="k",
        contact_id=phone_contact["contact_id"],
        recorded_for=phone_contact["contact_id"],
        channel="outbox",
        status="sent",
        created_at=datetime(2026, 11, 21, tzinfo=UTC),
    ).save()

    response = post(
        api,
        "/v1/identify",
        {
            "anonymousId": "phone",
            "timestamp": "2026-11-21T08:02:00Z",
            "traits": {"email": "BOB@example.com", "city": "Bergen"},
        },
    )
    assert response.status_code == 200

    merged = contact_of(api, admin_headers, email="bob@example.com")
    survivor = laptop_contact["contact_id"]
    absorbed = phone_contact["contact_id"]
    assert merged["contact_id"] == survivor
    assert contact_of(api, admin_headers, anonymous_id="phone")["contact_id"] == survivor
    names = [event["name"] for event in merged["timeline"]]
    assert sorted(names) == sorted(
        ["page_viewed", "identify", "page_viewed", "cart_updated", "identify", "contact_merged"]
    )
    assert merged["page_views"] == 2 and merged["sessions"] == 2
    assert merged["first_touch"]["source"] == "ads"  # first touch kept
    assert merged["attributes"]["city"] == "Bergen"  # newest wins
    assert merged["attributes"]["name"] == "Bob"
    assert merged["merged_from"] == [absorbed]
    assert {i["value"] for i in merged["identities"]} == {"laptop", "phone", "bob@example.com"}

    tombstone = Contact.get(absorbed)
    assert tombstone.merged_into == survivor
    assert tombstone.attributes.as_dict() == {} and tombstone.page_views == 0
    assert list(Event.query(f"contact:{absorbed}")) == []
    moved = Enrollment.get(survivor, "cart#2026-11-21#e1")
    assert (moved.state, moved.wake_token, moved.version) == ({"step": "m1"}, 3, 1)
    assert list(Enrollment.query(absorbed)) == []
    assert Message.get("msg-1").contact_id == survivor
    # The merge is recorded on the survivor's timeline (and so handed to the funnels).
    [merge] = [event for event in merged["timeline"] if event["name"] == "contact_merged"]
    assert merge["properties"]["absorbed_contact_id"] == absorbed
    # Reading the absorbed id shows the contact it became.
    via_old = api.http.get(f"/admin/contacts/{absorbed}", headers=admin_headers).json_body
    assert via_old["contact_id"] == survivor and via_old["requested_id"] == absorbed


def test_an_identify_in_the_same_batch_as_a_new_visitor_merges_in_place(
    api: Client, admin_headers: dict[str, str]
) -> None:
    """A server key's identify links a new device to a user in the batch that first sees it
    (a public write key's never merges a user's contact)."""
    post(api, "/v1/identify", {"userId": "u-9", "traits": {"email": "cy@example.com"}})
    batch = [
        {"type": "page", "anonymousId": "new-device", "timestamp": "2026-11-21T08:00:00Z"},
        {
            "type": "identify",
            "anonymousId": "new-device",
            "timestamp": "2026-11-21T08:01:00Z",
            "traits": {"email": "cy@example.com"},
        },
        {
            "type": "track",
            "anonymousId": "new-device",
            "event": "cart_updated",
            "timestamp": "2026-11-21T08:02:00Z",
        },
    ]
    assert post(api, "/v1/batch", {"batch": batch}, basic(SERVER_KEY)).status_code == 200
    contact = contact_of(api, admin_headers, user_id="u-9")
    assert (
        contact_of(api, admin_headers, anonymous_id="new-device")["contact_id"]
        == contact["contact_id"]
    )
    assert contact["page_views"] == 1
    assert {e["name"] for e in contact["timeline"]} >= {"page_viewed", "identify", "cart_updated"}


def test_two_known_users_on_one_device_are_never_merged(
    api: Client, admin_headers: dict[str, str]
) -> None:
    post(api, "/v1/identify", {"userId": "alice", "anonymousId": "shared-pc"})
    post(api, "/v1/identify", {"userId": "bruno", "traits": {"email": "bruno@example.com"}})
    post(api, "/v1/identify", {"userId": "bruno", "anonymousId": "shared-pc"})
    alice = contact_of(api, admin_headers, user_id="alice")
    bruno = contact_of(api, admin_headers, user_id="bruno")
    assert alice["contact_id"] != bruno["contact_id"]
    assert "merged_from" not in bruno
    assert Identity.get("anon:shared-pc").contact_id == alice["contact_id"]


def test_alias_links_the_previous_id(api: Client, admin_headers: dict[str, str]) -> None:
    """Segment's alias, from a server (a public write key's alias never merges a user)."""
    post(api, "/v1/track", {"anonymousId": "before-login", "event": "browse"})
    post(api, "/v1/track", {"userId": "member-7", "event": "login"})
    alias = {"previousId": "before-login", "userId": "member-7"}
    post(api, "/v1/alias", alias, basic(SERVER_KEY))
    contact = contact_of(api, admin_headers, user_id="member-7")
    assert {e["name"] for e in contact["timeline"]} >= {
        "browse",
        "login",
        "alias",
        "contact_merged",
    }


def test_concurrent_first_requests_of_one_visitor_make_one_contact_and_count_everything(
    api: Client, admin_headers: dict[str, str], settings: Settings
) -> None:
    """Four requests race to append a brand-new anonymous id's first calls (a flush and a
    beacon, two tabs): all are stored, and the worker makes one contact that counts them all."""
    now = datetime.now(UTC)

    def request(n: int) -> None:
        calls = [
            parse_call({"type": "page", "anonymousId": "racer", "messageId": f"{n}-{i}"}, now)
            for i in range(5)
        ]
        append([call_entry(call, f"segment:{WRITE_KEY}") for call in calls], now)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(request, range(4)))
    wiring.app().drain()
    contact = contact_of(api, admin_headers, anonymous_id="racer")
    assert contact["page_views"] == 20
    assert len(contact["timeline"]) == 20
