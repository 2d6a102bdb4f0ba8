"""An interrupted merge loses nothing: killed at each of its DynamoDB calls in turn (at the
botocore layer, like a Lambda timeout), then run again the way its event's retry runs it, the
absorbed contact's attributes, counters, consents and opt-out all end up on the survivor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core.trust import SERVER
from chalicelib.identity import store
from chalicelib.identity.resolver import Resolver
from chalicelib.storage.models import Contact, Enrollment, Identity, Message
from tests.integration.paging.faults import CallCounter, Killed

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def two_people(n: int) -> tuple[str, str, list[str]]:
    """A shop's customer (the survivor) and the same person's browser contact (absorbed), which
    has opted out of email, granted SMS, been counted and messaged. Returns the keys of the
    call that merges them."""
    survivor, absorbed = f"c_shop_{n}", f"c_site_{n}"
    earlier, later = NOW - timedelta(days=3), NOW - timedelta(days=1)
    Contact(
        survivor,
        attributes={"first_name": "Vera", "tier": "gold"},
        first_seen=earlier,
        last_seen=earlier,
        orders_count=1,
        total_spent=20,
        consents={"email": {"granted": True, "at": earlier.isoformat(), "source": "shopify"}},
    ).save()
    Contact(
        absorbed,
        attributes={"city": "Oslo", "tier": "silver"},
        first_seen=NOW - timedelta(days=9),
        last_seen=later,
        sessions=3,
        page_views=7,
        orders_count=2,
        total_spent=30,
        first_touch={"source": "newsletter"},
        consents={
            "email": {"granted": False, "at": later.isoformat(), "source": "unsubscribe"},
            "sms": {"granted": True, "at": later.isoformat(), "source": "twilio"},
        },
    ).save()
    store.claim(f"email:vera{n}@example.com", survivor, NOW, proof="shop")
    for key in (f"anon:laptop-{n}", f"anon:phone-{n}", f"phone:+4915112345{n:03d}"):
        store.claim(key, absorbed, NOW)
    Enrollment(
        absorbed,
        f"cart#2026-11-22#e{n}",
        enrollment_id=f"e{n}",
        funnel="cart",
        funnel_version=1,
        status="active",
        state={"step": "m1"},
        started_at=later,
        wake_token=2,
    ).save()
    Message(
        f"msg-{n}",
        idempotency_key=f"k-{n}",
        contact_id=absorbed,
        recorded_for=absorbed,
        channel="sms",
        status="sent",
        created_at=later,
    ).save()
    return survivor, absorbed, [f"email:vera{n}@example.com", f"anon:laptop-{n}"]


def resolve(keys: list[str]) -> str:
    """The server's identify naming both (what its retry, or the stream's redelivery, re-runs)."""
    return Resolver(NOW).resolve(keys, trust_level=SERVER)


def check_merged(survivor: str, absorbed: str, n: int) -> None:
    contact = Contact.get(survivor, consistent_read=True)
    assert contact.merged_into is None
    # (the more recently seen contact wins a conflicting trait)
    assert contact.attributes.as_dict() == {"first_name": "Vera", "tier": "silver", "city": "Oslo"}
    assert (contact.sessions, contact.page_views) == (3, 7)
    assert (contact.orders_count, contact.total_spent) == (3, 50)
    assert contact.first_touch.as_dict() == {"source": "newsletter"}
    consents = contact.consents.as_dict()
    assert consents["email"]["granted"] is False  # the opt-out survives
    assert consents["sms"]["granted"] is True
    assert set(contact.merged_from or ()) == {absorbed}
    owners = {item.identity: item.contact_id for item in Identity.by_contact.query(survivor)}
    assert set(owners) == {
        f"email:vera{n}@example.com",
        f"anon:laptop-{n}",
        f"anon:phone-{n}",
        f"phone:+4915112345{n:03d}",
    }
    assert Contact.get(absorbed, consistent_read=True).merged_into == survivor
    assert [e.enrollment_id for e in Enrollment.query(survivor)] == [f"e{n}"]
    assert list(Enrollment.query(absorbed)) == []
    assert Message.get(f"msg-{n}").contact_id == survivor


def test_a_merge_killed_at_each_call_loses_nothing_when_run_again(
    settings: object, dynamodb_calls: CallCounter
) -> None:
    survivor, absorbed, keys = two_people(0)
    start = dynamodb_calls.calls
    assert resolve(keys) == survivor
    total = dynamodb_calls.calls - start
    check_merged(survivor, absorbed, 0)
    assert total > 10, total  # (each step is its own DynamoDB call)
    print(f"a merge takes {total} DynamoDB calls: killed at each in turn")

    for n in range(1, total + 1):
        survivor, absorbed, keys = two_people(n)
        with dynamodb_calls.killing_at(n), pytest.raises(Killed):
            resolve(keys)
        assert resolve(keys) == survivor, f"killed at call {n}"
        check_merged(survivor, absorbed, n)
        assert resolve(keys) == survivor  # and a third run changes nothing
        check_merged(survivor, absorbed, n)
