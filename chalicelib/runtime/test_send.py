"""A test send: one step's message, rendered for a contact (or the sample), sent through the
channel's real provider to an address the operator gives. It is recorded as a test message
(`test: true`, no funnel, no contact of the shop's), so no funnel, figure, attribution or
contact timeline ever sees it, and provider callbacks about it change nothing but its record.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.channels.base import Channel, PermanentFailure, TemporaryFailure
from chalicelib.channels.delivery import limiter_for, prepare, send
from chalicelib.config import Settings
from chalicelib.core.funnel import Funnel
from chalicelib.core.state import ContactView
from chalicelib.identity.keys import InvalidIdentity, normalise_email, normalise_phone
from chalicelib.runtime.dispatch import engine_links, fill_links
from chalicelib.runtime.preview import render
from chalicelib.storage.models import Message

TEST_CONTACT = "test-sends"  # the messages' contact: never a real one
SUBJECT_MARK = "[Test] "
NO_TEST = ("onsite",)
ANNOTATIONS = ("text_derived", "encoding", "characters", "segments", "warnings")  # preview's


class BadAddress(ValueError):
    pass


class SendFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class TestSend:
    message_id: str
    channel: str
    address: str
    via: str
    provider_id: str


def address_for(channel: str, to: str, region: str) -> str:
    try:
        if channel == "email":
            return normalise_email(to)
        if channel in ("sms", "whatsapp"):
            return normalise_phone(to, region)
    except InvalidIdentity as error:
        raise BadAddress(str(error)) from error
    if channel in ("telegram", "messenger", "instagram") and to.strip().lstrip("-").isdigit():
        return to.strip()
    raise BadAddress(f"{to!r} is not a {channel} address (a chat or page-scoped id: digits)")


def send_test(
    settings: Settings,
    channels: Mapping[str, Channel],
    funnel: Funnel,
    step_id: str,
    contact: ContactView,
    event: Mapping[str, Any],
    channel: str,
    to: str,
    now: datetime,
) -> TestSend:
    if channel in NO_TEST:
        raise BadAddress("on-site messages have no address to send to: preview them instead")
    address = address_for(channel, to, settings.phone_region)
    preview = render(funnel, step_id, contact, event, engine_links(settings), only=channel)
    message_id = uuid.uuid4().hex
    shown = preview.channels[channel]
    sent = {k: v for k, v in shown.items() if k not in ANNOTATIONS}
    if shown.get("text_derived"):
        sent.pop("text")  # the real send has no text part: neither has its test
    parts = fill_links(settings, message_id, TEST_CONTACT, channel, sent)
    if channel == "email":
        parts["subject"] = SUBJECT_MARK + str(parts.get("subject") or "")
    outgoing = prepare(
        settings,
        message_id=message_id,
        contact_id=TEST_CONTACT,
        channel=channel,
        address=address,
        content=parts,
    )
    sender = channels[channel]
    record = Message(
        message_id,
        idempotency_key=f"test:{message_id}",
        contact_id=TEST_CONTACT,
        recorded_for=TEST_CONTACT,  # listed at once: no dispatcher records its outcome
        channel=channel,
        address=address,
        via=getattr(sender, "name", None),
        content={**outgoing.content, "test_of": f"{funnel.name}/{step_id}"},
        status="sending",
        created_at=now,
        test=True,
    )
    record.save()
    try:
        result = send(sender, outgoing, limiter=limiter_for(settings))
    except (PermanentFailure, TemporaryFailure) as failure:
        record.update(actions=[Message.status.set("failed"), Message.error.set(str(failure))])
        raise SendFailed(f"{channel} provider refused the test send: {failure}") from failure
    record.update(
        actions=[
            Message.status.set("sent"),
            Message.provider_id.set(result.provider_id),
            Message.sent_at.set(now),
            Message.status_history.set([{"status": "sent", "at": now.isoformat()}]),
        ]
    )
    return TestSend(message_id, channel, address, str(record.via), result.provider_id)
