"""Consent changes (unsubscribe links, STOP / START replies, spam reports, Telegram /start and
/stop): the worker sets Contact.consents[channel] when it handles the opt-out or opt-in entry,
which funnels then see as an `unsubscribed` / `subscribed` event (their exit rules apply)."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.channels.reachability import plain
from chalicelib.storage.models import Contact

TOPIC = "topic:"  # consents of topics are kept beside the channels' ("topic:promotions")


def set_consent(contact_id: str, channel: str, granted: bool, *, source: str, at: datetime) -> bool:
    """Record the person's choice for `channel`; True when it changed. A decision older than
    the recorded one changes nothing (entries of one person may come from two devices)."""
    for _ in range(5):  # optimistic locking on Contact.version
        try:
            contact = Contact.get(contact_id, consistent_read=True)
        except Contact.DoesNotExist:
            return False
        consents = dict(plain(contact.consents) or {})
        current = consents.get(channel)
        if isinstance(current, dict) and (
            current.get("granted") is granted or str(current.get("at", "")) > at.isoformat()
        ):
            return False
        consents[channel] = {"granted": granted, "at": at.isoformat(), "source": source}
        try:
            contact.update(actions=[Contact.consents.set(consents)])
            return True
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
    return False
