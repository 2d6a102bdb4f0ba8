"""A funnel whose exit is a condition hears every event; the worker reads a contact's
enrollments for an event no funnel names only when the contact item lists a listening
enrollment (chalicelib.runtime.listening). Whatever happens (a kill at any call of the entry,
a merge, a contact from before the list), the exit must not be missed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from autofunnel.timetravel import Stack
from chalicelib.config import Settings
from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import VERIFIED, Entry
from chalicelib.storage.models import Contact, Enrollment, Identity
from tests.integration.paging.conftest import dynamodb_calls  # noqa: F401 (fixture)
from tests.integration.paging.faults import CallCounter, Killed

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
UPGRADE = """
name: until_upgraded
trigger: {event: signed_up}
exit:
  - {condition: {attributes: {plan: pro}}, reason: upgraded}
templates:
  hi: {email: {subject: "Still on the free plan?", text: "Have a look at pro"}}
steps:
  - {id: later, kind: wait, duration: 3d}
  - {id: nudge, kind: send, channel: email, template: hi}
"""
_ids: Iterator[int] = iter(range(1, 10**6))


def call(keys: tuple[str, ...], kind: str, name: str, **traits: object) -> Entry:
    return Entry(
        subject=keys[0],
        event_id=f"l{next(_ids)}",
        type=kind,
        name=name,
        timestamp=AT,
        properties=dict(traits),
        keys=keys,
        trust=VERIFIED,
    )


@pytest.fixture
def stack(settings: Settings) -> Stack:
    built = Stack.build(AT)
    built.publish("until_upgraded.yaml", UPGRADE)
    return built


def enrollment_of(key: str) -> Enrollment:
    [row] = Enrollment.query(Identity.get(key).contact_id)
    return row


def contact_of(key: str) -> Contact:
    return Contact.get(Identity.get(key).contact_id, consistent_read=True)


def test_an_upgrade_exits_and_the_contact_stops_listing_the_enrollment(stack: Stack) -> None:
    stack.append(call(("user:a",), "track", "signed_up"))
    row = enrollment_of("user:a")
    assert row.status == "active"
    assert set(contact_of("user:a").listens or ()) == {row.enrollment_key}

    stack.append(call(("user:a",), "page", "page_viewed"))  # named by no funnel: heard
    assert enrollment_of("user:a").status == "active"
    stack.append(call(("user:a",), "identify", "identify", plan="pro"))

    ended = enrollment_of("user:a")
    assert (ended.status, ended.state.get("reason")) == ("exited", "upgraded")
    assert not contact_of("user:a").listens


def test_an_entry_killed_at_every_call_still_exits_on_the_upgrade(
    stack: Stack,
    dynamodb_calls: CallCounter,  # noqa: F811
) -> None:
    append([call(("user:clean",), "track", "signed_up")], AT)
    start = dynamodb_calls.calls
    stack.drain()
    used = dynamodb_calls.calls - start
    assert used > 3
    for kill_at in range(1, used + 1):
        user = f"user:k{kill_at}"
        stack.append(call((user,), "identify", "identify", plan="free"))
        append([call((user,), "track", "signed_up")], AT)
        try:
            with dynamodb_calls.killing_at(kill_at):
                stack.drain()
        except Killed:
            pass
        stack.drain()  # the stream delivers the entry again
        assert enrollment_of(user).status == "active", kill_at
        stack.append(call((user,), "identify", "identify", plan="pro"))
        ended = enrollment_of(user)
        assert (ended.status, ended.state.get("reason")) == ("exited", "upgraded"), kill_at
        assert not contact_of(user).listens, kill_at


def test_a_merged_contacts_listening_enrollment_exits_on_the_survivors_upgrade(
    stack: Stack,
) -> None:
    stack.append(call(("anon:m1",), "track", "signed_up"))  # a visitor enters
    stack.append(call(("user:m2", "email:m2@example.com"), "identify", "identify", plan="free"))
    # The visitor logs in: the two contacts are one person.
    stack.append(call(("user:m2", "anon:m1"), "identify", "identify"))
    survivor = Identity.get("user:m2").contact_id
    assert Identity.get("anon:m1").contact_id == survivor
    [row] = Enrollment.query(survivor)
    assert row.status == "active"

    stack.append(call(("user:m2",), "identify", "identify", plan="pro"))
    [row] = Enrollment.query(survivor)
    assert (row.status, row.state.get("reason")) == ("exited", "upgraded")


def test_a_contact_from_before_the_list_is_read_and_then_listed(stack: Stack) -> None:
    stack.append(call(("user:old",), "track", "signed_up"))
    row = enrollment_of("user:old")
    contact = contact_of("user:old")
    contact.update(actions=[Contact.listens.remove(), Contact.listens_kept.remove()])

    stack.append(call(("user:old",), "page", "page_viewed"))
    adopted = contact_of("user:old")
    assert adopted.listens_kept
    assert set(adopted.listens or ()) == {row.enrollment_key}

    stack.append(call(("user:old",), "identify", "identify", plan="pro"))
    assert enrollment_of("user:old").status == "exited"


def test_a_key_left_by_a_crash_after_the_end_is_removed_on_the_next_read(stack: Stack) -> None:
    stack.append(call(("user:left",), "track", "signed_up"))
    key = enrollment_of("user:left").enrollment_key
    stack.append(call(("user:left",), "identify", "identify", plan="pro"))
    contact = contact_of("user:left")
    contact.update(actions=[Contact.listens.add({key})])  # as if killed before the unlisting

    stack.append(call(("user:left",), "page", "page_viewed"))
    assert not contact_of("user:left").listens


PAID_V1 = """
name: until_paid
trigger: {event: signed_up}
goal: {event: order_completed}
templates:
  hi: {email: {subject: "Your trial", text: "Upgrade any time"}}
steps:
  - {id: later, kind: wait, duration: 3d}
  - {id: nudge, kind: send, channel: email, template: hi}
"""
PAID_V2 = PAID_V1.replace(
    "goal: {event: order_completed}\n",
    "exit:\n  - {condition: {attributes: {plan: pro}}, reason: upgraded}\n",
)


def test_an_enrollment_on_an_older_version_still_hears_the_events_that_version_names(
    settings: Settings,
) -> None:
    """Version 2 listens to every event and names no goal; an enrollment started on version 1
    (not listed: its version names what it waits for) still converts on version 1's goal."""
    stack = Stack.build(AT)
    stack.publish("until_paid.yaml", PAID_V1)
    stack.append(call(("user:v1",), "track", "signed_up"))
    stack.publish("until_paid.yaml", PAID_V2)
    assert not contact_of("user:v1").listens

    stack.append(call(("user:v1",), "track", "order_completed", total=10))
    row = enrollment_of("user:v1")
    assert (row.funnel_version, row.status) == (1, "converted")
