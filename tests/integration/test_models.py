"""Every model against DynamoDB Local: create, read, conditional update, query (incl. by GSI)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.config import Settings
from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.models import (
    Contact,
    Counter,
    Enrollment,
    Event,
    Funnel,
    Identity,
    Message,
    Receipt,
    Wakeup,
)
from chalicelib.storage.schema import table_properties
from chalicelib.storage.tables import create_tables, delete_tables, dynamodb_client

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_contact_versioned_update_conflict_is_a_domain_error(settings: Settings) -> None:
    Contact(contact_id="c1", attributes={"name": "Ann", "plan": {"tier": 2}}).save()
    first, second = Contact.get("c1"), Contact.get("c1")
    first.attributes["name"] = "Anna"
    first.save()
    second.attributes["name"] = "Annie"
    with pytest.raises(ConflictError), conflicts_as_domain_errors("save contact"):
        second.save()
    stored = Contact.get("c1")
    assert stored.attributes.as_dict() == {"name": "Anna", "plan": {"tier": 2}}
    assert stored.version == 2


def test_identity_is_unique_and_listed_per_contact(settings: Settings) -> None:
    def claim(identity: str, contact_id: str) -> None:
        kind, value = identity.split(":", 1)
        item = Identity(identity, contact_id=contact_id, kind=kind, value=value, created_at=NOW)
        with conflicts_as_domain_errors("claim identity"):
            item.save(condition=Identity.identity.does_not_exist())

    claim("email:ann@example.com", "c1")
    claim("anon:a-1", "c1")
    with pytest.raises(ConflictError):
        claim("email:ann@example.com", "c2")
    assert Identity.get("email:ann@example.com").contact_id == "c1"
    listed = [i.identity for i in Identity.by_contact.query("c1")]
    assert listed == ["anon:a-1", "email:ann@example.com"]


def test_the_log_stores_an_event_once_per_subject_and_streams_it(settings: Settings) -> None:
    def put(subject: str, event_id: str) -> None:
        Event(
            subject,
            event_id,
            type="track",
            name="cart_updated",
            properties={"items_count": 1},
            timestamp=NOW,
            received_at=NOW,
            expires_at=NOW + timedelta(days=400),
        ).save(condition=Event.event_id.does_not_exist())

    put("anon:a1", "m1")
    put("anon:a2", "m1")  # another visitor's id: another event
    with pytest.raises(ConflictError), conflicts_as_domain_errors("append"):
        put("anon:a1", "m1")
    assert [e.event_id for e in Event.query("anon:a1")] == ["m1"]
    table = dynamodb_client(settings).describe_table(TableName=Event.Meta.table_name)["Table"]
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }


def test_funnel_versions_and_listing(settings: Settings) -> None:
    Funnel("cart", 0, listing="head", state="active", latest_version=1, created_at=NOW).save()
    Funnel("cart", 1, definition={"steps": []}, source="name: cart", created_at=NOW).save()
    Funnel("welcome", 0, listing="head", state="paused", latest_version=0, created_at=NOW).save()
    heads = {f.name: f.state for f in Funnel.by_listing.query("head")}
    assert heads == {"cart": "active", "welcome": "paused"}
    head = Funnel.get("cart", 0)
    head.update(actions=[Funnel.latest_version.set(2)], condition=Funnel.latest_version == 1)
    with pytest.raises(ConflictError), conflicts_as_domain_errors("publish"):
        Funnel.get("cart", 0).update(
            actions=[Funnel.latest_version.set(2)], condition=Funnel.latest_version == 1
        )
    assert Funnel.get("cart", 1).definition == {"steps": []}


def test_enrollment_optimistic_locking(settings: Settings) -> None:
    enrollment = Enrollment(
        "c1",
        "cart#2026-11-23T12:00:00#e1",
        enrollment_id="e1",
        funnel="cart",
        funnel_version=1,
        status="active",
        current_step="wait1",
        state={"step": "wait1"},
        started_at=NOW,
    )
    enrollment.save()
    stale = Enrollment.get("c1", "cart#2026-11-23T12:00:00#e1")
    enrollment.update(actions=[Enrollment.current_step.set("m1")])
    with pytest.raises(ConflictError), conflicts_as_domain_errors("advance"):
        stale.update(actions=[Enrollment.current_step.set("m1")])
    in_funnel = list(Enrollment.query("c1", Enrollment.enrollment_key.startswith("cart#")))
    assert in_funnel[0].current_step == "m1"


def test_message_is_its_own_idempotency_record(settings: Settings) -> None:
    def claim() -> None:
        message = Message(
            "m-1",
            idempotency_key="e1:m1:1",
            contact_id="c1",
            channel="email",
            via="outbox",
            status="pending",
            created_at=NOW,
        )
        with conflicts_as_domain_errors("claim send"):
            message.save(condition=Message.message_id.does_not_exist())

    claim()
    with pytest.raises(ConflictError):
        claim()
    message = Message.get("m-1")
    assert list(Message.by_contact.query("c1")) == []  # listed once its outcome is recorded
    message.update(
        actions=[
            Message.provider_id.set("SM123"),
            Message.status.set("sent"),
            Message.recorded_for.set("c1"),
        ]
    )
    assert [m.message_id for m in Message.by_provider_id.query("SM123")] == ["m-1"]
    assert [m.message_id for m in Message.by_via.query("outbox")] == ["m-1"]
    assert [m.message_id for m in Message.by_contact.query("c1")] == ["m-1"]


def test_a_message_stored_by_the_previous_release_keeps_its_contact(settings: Settings) -> None:
    """Before `recipient_id`, a message named its contact in `contact_id` alone, the attribute
    by_contact is keyed on. An upgraded stage reads, lists and updates such a message as before
    (the index keeps its key: CloudFormation could not change it in place)."""
    client = dynamodb_client(settings)
    client.put_item(
        TableName=Message.Meta.table_name,
        Item={
            "message_id": {"S": "m-old"},
            "idempotency_key": {"S": "e1:m1:1"},
            "contact_id": {"S": "c1"},
            "channel": {"S": "email"},
            "status": {"S": "sent"},
            "created_at": {"S": "2026-11-01T09:00:00.000000+0000"},
        },
    )
    message = Message.get("m-old")
    assert (message.contact_id, message.recorded_for) == ("c1", "c1")
    assert [m.contact_id for m in Message.by_contact.query("c1")] == ["c1"]
    message.update(actions=[Message.status.set("delivered")])
    assert (message.contact_id, message.status) == ("c1", "delivered")
    assert Message.get("m-old").contact_id == "c1"


def test_a_messages_content_is_packed_and_reads_as_written(settings: Settings) -> None:
    """An email's HTML is stored compressed (every update of the message is billed per KB of
    it); a short content stays plain; a message from before (a JSON string) reads as it was."""
    client = dynamodb_client(settings)
    html = "".join(f'<tr><td style="padding:12px">Product {n}</td></tr>' for n in range(300))
    content = {"subject": "New in", "html": f"<table>{html}</table>", "to": None}
    message = Message(
        "m-packed",
        idempotency_key="k",
        contact_id="c1",
        channel="email",
        status="pending",
        created_at=NOW,
        content=content,
    )
    message.save()
    message.update(actions=[Message.content.set({**content, "subject": "New in!"})])
    stored = client.get_item(
        TableName=Message.Meta.table_name, Key={"message_id": {"S": "m-packed"}}
    )
    assert len(stored["Item"]["content"]["B"]) < len(html) / 5
    assert Message.get("m-packed").content == {**content, "subject": "New in!"}

    Message(
        "m-short",
        idempotency_key="k2",
        contact_id="c1",
        channel="sms",
        status="pending",
        created_at=NOW,
        content={"text": "Hi"},
    ).save()
    assert Message.get("m-short").content == {"text": "Hi"}

    client.put_item(
        TableName=Message.Meta.table_name,
        Item={
            "message_id": {"S": "m-json"},
            "idempotency_key": {"S": "k3"},
            "recipient_id": {"S": "c1"},
            "channel": {"S": "email"},
            "status": {"S": "sent"},
            "created_at": {"S": "2026-11-01T09:00:00.000000+0000"},
            "content": {"S": '{"subject": "Before", "html": "<p>Hi</p>"}'},
        },
    )
    old = Message.get("m-json")
    assert old.content == {"subject": "Before", "html": "<p>Hi</p>"}
    old.update(actions=[Message.status.set("delivered")])
    assert Message.get("m-json").content == {"subject": "Before", "html": "<p>Hi</p>"}


def test_counters_add_atomically(settings: Settings) -> None:
    for _ in range(3):
        Counter("funnel#cart#1", "step#m1#sent").update(actions=[Counter.value.add(1)])
    Counter("funnel#cart#1", "revenue").update(actions=[Counter.value.add(120.5)])
    metrics = {c.metric: c.value for c in Counter.query("funnel#cart#1")}
    assert metrics == {"revenue": 120.5, "step#m1#sent": 3}


def test_receipts_and_wakeups(settings: Settings) -> None:
    Receipt("segment:msg-1", created_at=NOW).save(condition=Receipt.key.does_not_exist())
    with pytest.raises(ConflictError), conflicts_as_domain_errors("receipt"):
        Receipt("segment:msg-1", created_at=NOW).save(condition=Receipt.key.does_not_exist())
    Wakeup("w-late", due_at="2026-11-23T13:00:00+00:00", payload={"t": 2}).save()
    Wakeup("w-soon", due_at="2026-11-23T12:01:00+00:00", payload={"t": 1}).save()
    due = Wakeup.by_due.query("due", Wakeup.due_at <= "2026-11-23T12:30:00+00:00")
    assert [w.name for w in due] == ["w-soon"]


def test_a_table_from_before_its_stream_gets_it_in_place(settings: Settings) -> None:
    """`make run`'s data folder from before the enrollments' stream: the table stays (with its
    enrollments) and gets the stream, as CloudFormation adds it to a deployed stage's table."""
    older = dataclasses.replace(settings, table_prefix=f"{settings.table_prefix}-older")
    client = dynamodb_client(older)
    name = older.table_name("enrollments")
    properties = table_properties(Enrollment)
    properties.pop("StreamSpecification")
    client.create_table(TableName=name, **properties)
    client.put_item(
        TableName=name, Item={"contact_id": {"S": "ann"}, "enrollment_key": {"S": "cart#00001"}}
    )
    try:
        created = create_tables(older)
        assert name not in created
        table = client.describe_table(TableName=name)["Table"]
        assert table["StreamSpecification"] == {
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        assert client.get_item(
            TableName=name, Key={"contact_id": {"S": "ann"}, "enrollment_key": {"S": "cart#00001"}}
        ).get("Item")
    finally:
        delete_tables(older)
