"""SMS and WhatsApp double opt-in: a claim (the public write key) cannot consent to texts for a
number (SMS pumping: bots submit premium-rate numbers), so a visitor who asks for them gets one
confirmation text, "Reply YES to get texts from <shop>", and consent comes with the YES
(chalicelib.tracking.twilio_events), which also proves the number is theirs.

The confirmation is an ordinary message record: sent through the dispatcher, so the SMS
countries, quiet hours and the daily limits apply to it like to any text (over the limit it is
held and visible), and the sweeper retries it. One per number per day: its id says so.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from chalicelib.channels.reachability import Reachability, load
from chalicelib.channels.routing import consented
from chalicelib.config import Settings
from chalicelib.core.trust import PROVIDER
from chalicelib.identity import store as identity_store
from chalicelib.runtime.dispatch import OPT_IN, PENDING, TO, dispatch_shard, pending_content
from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.models import Message
from chalicelib.tracking import message_status

log = logging.getLogger(__name__)

CHANNELS = ("sms", "whatsapp")  # the ones a claim cannot consent to (core.trust.DOUBLE_OPT_IN)
TEMPLATE = "Reply YES to get texts from {shop}. Reply STOP to opt out. Msg & data rates may apply."


class Dispatches(Protocol):
    def dispatch(self, message: Message, reach: Reachability | None = None) -> str: ...


def confirmation_text(settings: Settings) -> str:
    return TEMPLATE.format(shop=settings.shop_display_name)


def request(
    contact_id: str,
    channels: Iterable[str],
    now: datetime,
    settings: Settings,
    dispatcher: Dispatches,
) -> Message | None:
    """Text the contact's claimed number a confirmation, once per number and day; None when
    there is nothing to confirm (no claimed number, an earlier STOP, already asked today)."""
    wanted = sorted(set(channels) & set(CHANNELS))
    reach = load(contact_id)
    number = next((reach.unconfirmed[c] for c in CHANNELS if c in reach.unconfirmed), None)
    if not wanted or number is None:
        return None  # nothing claimed, or the number is proven already (its consent stands)
    if not consented(reach.consents, "sms"):
        return None  # the person said STOP: a confirmation would be a text they refused
    key = f"opt-in:{number}:{now.date().isoformat()}"
    message_id = hashlib.sha256(key.encode()).hexdigest()[:32]
    message = Message(
        message_id,
        idempotency_key=key,
        contact_id=contact_id,
        channel="sms",
        content={
            **pending_content(["sms"], {"sms": {"text": confirmation_text(settings)}}),
            TO: number,
            OPT_IN: wanted,
        },
        status=PENDING,
        created_at=now,
        dispatch_shard=dispatch_shard(message_id),
    )
    try:
        with conflicts_as_domain_errors("request opt-in"):
            message.save(condition=Message.message_id.does_not_exist())
    except ConflictError:
        return None  # asked today already
    dispatcher.dispatch(message, reach)  # (to the number in its content)
    return message


def confirmed(contact_id: str, keys: Iterable[str]) -> list[str]:
    """A YES from one of `keys` (the number's identity keys): the number is proven the
    contact's, and the channels our latest confirmation to it asked for are granted too."""
    granted: list[str] = []
    for key in keys:
        kind, _, number = key.partition(":")
        if kind not in ("phone", "whatsapp") or not identity_store.prove(key, contact_id, PROVIDER):
            continue
        latest = message_status.latest_to(contact_id, CHANNELS, number)
        granted += granted_by(latest.content if latest is not None else None)
    return granted


def granted_by(content: object) -> tuple[str, ...]:
    """The channels a YES to this message grants (empty: it was no confirmation)."""
    if not isinstance(content, dict):
        return ()
    return tuple(channel for channel in content.get(OPT_IN) or () if channel in CHANNELS)
