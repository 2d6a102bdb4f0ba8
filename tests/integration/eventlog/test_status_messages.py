"""A status's message is read once per batch (chalicelib.worker.messages): what the status does
must not depend on it, even when the batch also merges the message's contact into another."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import CLAIM, STATUS, VERIFIED, Entry, message_subject
from chalicelib.storage.models import Identity, Message

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def identify(anon: str, email: str, event_id: str, trust: str = CLAIM) -> Entry:
    return Entry(
        f"anon:{anon}",
        event_id,
        "identify",
        "identify",
        AT,
        {"email": email},
        keys=(f"anon:{anon}", f"email:{email}"),
        trust=trust,
    )


def test_a_bounce_in_the_batch_that_merges_its_contact_marks_the_address_dead(
    settings: Settings,
) -> None:
    append([identify("laptop", "bob@example.com", "e1")], AT)
    append([identify("phone", "old@example.com", "e2")], AT)
    wiring.app().drain()
    phone = Identity.get("email:old@example.com").contact_id
    Message(
        "msg-1",
        idempotency_key="k1",
        contact_id=phone,
        recorded_for=phone,
        channel="email",
        address="old@example.com",
        status="sent",
        created_at=AT,
    ).save()

    # One batch: the old address bounces, and a signed-in identify shows the phone is Bob's.
    bounce = Entry(
        message_subject("msg-1"),
        "sendgrid:b1",
        STATUS,
        "bounced",
        AT,
        {"unreachable": True, "address": "old@example.com", "provider_event": "bounce"},
        source="sendgrid",
        trust=VERIFIED,
    )
    append([bounce, identify("phone", "bob@example.com", "e3", VERIFIED)], AT)
    wiring.app().drain()

    survivor = Identity.get("email:bob@example.com").contact_id
    assert Identity.get("anon:phone").contact_id == survivor != phone  # merged, message moved
    assert Message.get("msg-1").contact_id == survivor
    assert Identity.get("email:old@example.com").unreachable  # no funnel writes to it again
    assert Message.get("msg-1").status == "bounced"
