"""The trust boundary through the HTTP API (issue 11's "done when"): a shop webhook makes a
known customer; calls with the public write key then cannot take over, change or merge them,
grant texts or book revenue. The same calls with a server key, or with a valid identity hash,
do what they say."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.ingest.verification import identity_hash
from tests.conftest import IDENTITY_SECRET, SERVER_KEY, WRITE_KEY
from tests.integration.webhooks.conftest import find_contact, fixture
from tests.integration.webhooks.test_shop_webhooks import shopify

VERA = "vera@example.com"
VERA_PHONE = "+14155550100"
EVIL = "evil@attacker.test"
EVIL_PHONE = "+447700900123"


def call(api: Client, path: str, body: dict[str, Any], key: str = WRITE_KEY) -> Any:
    token = base64.b64encode(f"{key}:".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    response = api.http.post(path, headers=headers, body=json.dumps(body).encode())
    assert response.status_code == 200, response.body
    return response.json_body


def customer(api: Client, email: str, phone: str | None = None, webhook: str = "") -> None:
    """Shopify's customers/create, signed: a known customer (their email and phone proven)."""
    payload = copy.deepcopy(fixture("shopify/customers_create.json"))
    payload.update(
        id=abs(hash(email)) % 10**12, email=email, phone=phone, first_name=email.split("@")[0]
    )
    response = shopify(api, "customers/create", payload, webhook or f"wh-{email}")
    assert response.status_code == 200, response.body


def contact(api: Client, admin: dict[str, str], **query: str) -> dict[str, Any]:
    found = find_contact(api, admin, **query)
    assert found is not None, query
    return found


def identities(found: dict[str, Any]) -> set[tuple[str, str]]:
    return {(item["kind"], item["value"]) for item in found["identities"]}


def hashed(value: str) -> str:
    return identity_hash(IDENTITY_SECRET, value)


def takeover_calls(vera_hash: str | None = None) -> list[dict[str, Any]]:
    """The issue's first attack: claim Vera's email from another browser, then change it."""
    proof = {"userHash": vera_hash} if vera_hash else {}
    context = {"traits": {"email": VERA}} if vera_hash else {}  # (who is signed in)
    return [
        {"anonymousId": "browser-A", "traits": {"email": VERA}, **proof},
        {
            "anonymousId": "browser-A",
            "traits": {"email": EVIL, "phone": EVIL_PHONE, "first_name": "Mallory"},
            "context": context,
            **proof,
        },
    ]


# --- the public write key --------------------------------------------------------------------


def test_public_identifies_leave_a_known_customers_identities_traits_and_addresses(
    api: Client, admin_headers: dict[str, str]
) -> None:
    customer(api, VERA, VERA_PHONE)
    before = contact(api, admin_headers, email=VERA)
    for body in takeover_calls():
        call(api, "/v1/identify", body)
    after = contact(api, admin_headers, email=VERA)
    assert after["contact_id"] == before["contact_id"]
    assert identities(after) == identities(before) == {("email", VERA), ("phone", VERA_PHONE)}
    assert after["attributes"] == before["attributes"]
    assert (
        after["addresses"]
        == before["addresses"]
        == {
            "email": VERA,
            "sms": VERA_PHONE,
            "whatsapp": VERA_PHONE,
        }
    )
    assert "merged_from" not in after
    # The claims stay on the visitor's own contact, stored, and send nothing anywhere.
    visitor = contact(api, admin_headers, anonymous_id="browser-A")
    assert visitor["contact_id"] != after["contact_id"]
    assert identities(visitor) == {("anon", "browser-A"), ("email", EVIL), ("phone", EVIL_PHONE)}
    # a claimed number gets no texts; on-site messages reach the visitor's own browser
    assert visitor["addresses"] == {"email": EVIL, "onsite": "browser-A"}
    assert [e["name"] for e in visitor["timeline"]].count("identify") == 2


def test_public_calls_from_a_known_customers_own_browser_change_nothing(
    api: Client, admin_headers: dict[str, str]
) -> None:
    """Her browser was linked by proof (her signed-in identify); a claim from it is still a
    claim: its events land on her timeline, its addresses and traits nowhere."""
    customer(api, VERA)
    call(api, "/v1/identify", takeover_calls(hashed(VERA))[0])
    linked = contact(api, admin_headers, anonymous_id="browser-A")
    assert linked["contact_id"] == contact(api, admin_headers, email=VERA)["contact_id"]
    call(api, "/v1/identify", takeover_calls()[1])
    call(api, "/v1/track", {"anonymousId": "browser-A", "event": "cart_updated"})
    after = contact(api, admin_headers, email=VERA)
    assert identities(after) == {("email", VERA), ("anon", "browser-A")}
    assert after["attributes"]["first_name"] == "vera"
    assert after["addresses"] == {"email": VERA, "onsite": "browser-A"}  # her linked browser
    assert {"identify", "cart_updated"} <= {e["name"] for e in after["timeline"]}
    assert find_contact(api, admin_headers, email=EVIL) is None


NAMINGS = {
    "traits and context.traits": [
        {"anonymousId": "m", "traits": {"email": "alice@example.com"},
         "context": {"traits": {"email": "bob@example.com"}}},
    ],
    "context.traits and traits": [
        {"anonymousId": "m", "traits": {"email": "bob@example.com"},
         "context": {"traits": {"email": "alice@example.com"}}},
    ],
    "two identifies from one anonymous id": [
        {"anonymousId": "m", "traits": {"email": "alice@example.com"}},
        {"anonymousId": "m", "traits": {"email": "bob@example.com"}},
    ],
    "two identifies from one user id": [
        {"userId": "m", "traits": {"email": "alice@example.com"}},
        {"userId": "m", "traits": {"email": "bob@example.com"}},
    ],
    "a new browser each": [
        {"anonymousId": "m1", "userId": "m", "traits": {"email": "alice@example.com"}},
        {"anonymousId": "m2", "userId": "m", "traits": {"email": "bob@example.com"}},
    ],
}  # fmt: skip


@pytest.mark.parametrize("naming", NAMINGS)
def test_two_shop_customers_are_never_merged_by_public_calls(
    api: Client, admin_headers: dict[str, str], naming: str
) -> None:
    customer(api, "alice@example.com")
    customer(api, "bob@example.com")
    calls = [{"type": "identify", **body} for body in NAMINGS[naming]]
    call(api, "/v1/batch", {"batch": calls})
    for body in NAMINGS[naming]:  # and one at a time
        call(api, "/v1/identify", {**body, "messageId": f"again-{id(body)}"})
    alice = contact(api, admin_headers, email="alice@example.com")
    bob = contact(api, admin_headers, email="bob@example.com")
    assert alice["contact_id"] != bob["contact_id"]
    assert "merged_from" not in alice and "merged_from" not in bob
    assert identities(alice) == {("email", "alice@example.com")}
    assert identities(bob) == {("email", "bob@example.com")}


def test_a_public_identify_claiming_sms_and_whatsapp_consent_grants_none(
    api: Client, admin_headers: dict[str, str]
) -> None:
    consents = {"sms": True, "whatsapp": True, "email": True}
    call(
        api,
        "/v1/identify",
        {"anonymousId": "pumper", "traits": {"phone": "+14155550199", "consents": consents}},
    )
    visitor = contact(api, admin_headers, anonymous_id="pumper")
    assert "sms" not in visitor["consents"] and "whatsapp" not in visitor["consents"]
    assert visitor["consents"]["email"]["granted"] is True  # an email sign-up is kept
    assert "sms" not in visitor["addresses"] and "whatsapp" not in visitor["addresses"]
    assert visitor["unconfirmed"] == {"sms": "+14155550199", "whatsapp": "+14155550199"}


def test_a_public_order_completed_adds_nothing_to_totals_or_revenue(
    api: Client, admin_headers: dict[str, str]
) -> None:
    customer(api, VERA)
    call(api, "/v1/identify", takeover_calls(hashed(VERA))[0])  # her own browser, proven
    order = {"event": "Order Completed", "properties": {"total": 999999, "order_id": "fake"}}
    call(api, "/v1/track", {"anonymousId": "browser-A", **order})
    call(api, "/v1/track", {"anonymousId": "stranger", **order})
    for found in (
        contact(api, admin_headers, email=VERA),
        contact(api, admin_headers, anonymous_id="stranger"),
    ):
        assert found["orders_count"] == 0 and found["total_spent"] == 0
        assert "Order Completed" in [e["name"] for e in found["timeline"]]  # stored, as events
        journey = stats(api, admin_headers, f"/admin/stats/contacts/{found['contact_id']}")
        assert not journey["orders"] and not journey["ltv"]
    assert revenue_today(api, admin_headers) == (0, 0)


def stats(api: Client, admin_headers: dict[str, str], path: str) -> Any:
    response = api.http.get(path, headers=admin_headers)
    assert response.status_code == 200, response.body
    return response.json_body


def revenue_today(api: Client, admin_headers: dict[str, str]) -> tuple[float, float]:
    """(orders, revenue) of today's trend figures and of all cohorts together."""
    today = datetime.now(UTC).date().isoformat()
    days = stats(api, admin_headers, f"/admin/stats/days?from={today}&to={today}")["days"]
    cohorts = stats(api, admin_headers, "/admin/stats/cohorts")["cohorts"]
    day_revenue = sum(day["revenue"] for day in days)
    return sum(day["orders"] for day in days), day_revenue + sum(row["revenue"] for row in cohorts)


# --- the same calls with proof -----------------------------------------------------------------


@pytest.mark.parametrize("proof", ["server key", "identity hash"])
def test_with_proof_the_same_identifies_do_what_they_say(
    api: Client, admin_headers: dict[str, str], proof: str
) -> None:
    customer(api, VERA, VERA_PHONE)
    key = SERVER_KEY if proof == "server key" else WRITE_KEY
    vera_hash = hashed(VERA) if proof == "identity hash" else None
    for body in takeover_calls(vera_hash):
        call(api, "/v1/identify", body, key)
    vera = contact(api, admin_headers, email=VERA)
    assert contact(api, admin_headers, anonymous_id="browser-A")["contact_id"] == vera["contact_id"]
    assert identities(vera) == {
        ("email", VERA),
        ("phone", VERA_PHONE),
        ("anon", "browser-A"),
        ("email", EVIL),
        ("phone", EVIL_PHONE),
    }
    assert vera["attributes"]["email"] == EVIL and vera["attributes"]["first_name"] == "Mallory"
    # The newest proven address of each kind is where her messages go now.
    assert vera["addresses"] == {
        "email": EVIL,
        "sms": EVIL_PHONE,
        "whatsapp": EVIL_PHONE,
        "onsite": "browser-A",
    }


def test_a_server_key_merges_two_customers_it_names_together(
    api: Client, admin_headers: dict[str, str]
) -> None:
    customer(api, "alice@example.com")
    customer(api, "bob@example.com")
    call(api, "/v1/identify", NAMINGS["traits and context.traits"][0], SERVER_KEY)
    alice = contact(api, admin_headers, email="alice@example.com")
    assert contact(api, admin_headers, email="bob@example.com")["contact_id"] == alice["contact_id"]
    assert len(alice["merged_from"]) == 1


def test_an_identity_hash_proves_one_customer_and_takes_nothing_of_another(
    api: Client, admin_headers: dict[str, str]
) -> None:
    """Alice signed in (her hash) may bring her own browser's claims along; Bob's contact is not
    hers to take, whatever she names."""
    customer(api, "alice@example.com")
    customer(api, "bob@example.com")
    call(api, "/v1/track", {"anonymousId": "m", "event": "product_viewed"})
    body = {**NAMINGS["traits and context.traits"][0], "userHash": hashed("alice@example.com")}
    call(api, "/v1/identify", body)
    alice = contact(api, admin_headers, email="alice@example.com")
    bob = contact(api, admin_headers, email="bob@example.com")
    assert alice["contact_id"] != bob["contact_id"]
    assert contact(api, admin_headers, anonymous_id="m")["contact_id"] == alice["contact_id"]
    assert "product_viewed" in [e["name"] for e in alice["timeline"]]
    assert identities(bob) == {("email", "bob@example.com")}


@pytest.mark.parametrize("proof", ["server key", "identity hash"])
def test_with_proof_sms_consent_is_granted_and_orders_count(
    api: Client, admin_headers: dict[str, str], proof: str
) -> None:
    key = SERVER_KEY if proof == "server key" else WRITE_KEY
    signed = {"userHash": hashed("u-7")} if proof == "identity hash" else {}
    consents = {"sms": True, "whatsapp": True}
    traits = {"email": "u7@example.com", "phone": "+14155550177", "consents": consents}
    call(api, "/v1/identify", {"userId": "u-7", "traits": traits, **signed}, key)
    order = {"event": "Order Completed", "properties": {"total": 999999, "order_id": "o-7"}}
    call(api, "/v1/track", {"userId": "u-7", **order, **signed}, key)
    found = contact(api, admin_headers, user_id="u-7")
    assert found["consents"]["sms"]["granted"] is True
    assert found["consents"]["whatsapp"]["granted"] is True
    assert found["addresses"]["sms"] == "+14155550177"
    assert found["orders_count"] == 1 and found["total_spent"] == 999999
    assert revenue_today(api, admin_headers) == (1, 2 * 999999)


def test_a_wrong_or_stale_identity_hash_is_a_claim(
    api: Client, admin_headers: dict[str, str]
) -> None:
    customer(api, VERA)
    for wrong in (hashed("someone@else.test"), "0" * 64, hashed(VERA).upper()[:-1] + "0"):
        body = {"anonymousId": "browser-W", "traits": {"email": VERA}, "userHash": wrong}
        call(api, "/v1/identify", {**body, "messageId": wrong})
    visitor = contact(api, admin_headers, anonymous_id="browser-W")
    assert visitor["contact_id"] != contact(api, admin_headers, email=VERA)["contact_id"]
    stored = [e for e in visitor["timeline"] if e["name"] == "identify"]
    assert stored and all("userHash" not in str(e) for e in stored)  # a credential: not kept


def test_a_claim_naming_a_customers_email_never_shows_in_her_history(
    api: Client, admin_headers: dict[str, str]
) -> None:
    """Funnels branch on a contact's past events: a claim is filed under the visitor's own id,
    so an order "by vera@" from a stranger's browser is not in Vera's history."""
    customer(api, VERA)
    body = {
        "anonymousId": "stranger",
        "event": "order_completed",
        "context": {"traits": {"email": VERA}},
    }
    call(api, "/v1/track", body)
    vera = contact(api, admin_headers, email=VERA)
    assert "order_completed" not in [e["name"] for e in vera["timeline"]]
    stranger = contact(api, admin_headers, anonymous_id="stranger")
    assert "order_completed" in [e["name"] for e in stranger["timeline"]]
