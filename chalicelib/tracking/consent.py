"""Consent changes (unsubscribe links, STOP / START replies, spam reports, Telegram /stop):
update Contact.consents[channel], then tell the funnels with an `unsubscribed` / `subscribed`
event so their exit rules apply. Only a real change emits an event (replays change nothing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib import wiring
from chalicelib.channels.reachability import plain
from chalicelib.events import StoredEvent
from chalicelib.storage.contacts import event_item, save_events
from chalicelib.storage.models import Contact

TOPIC = "topic:"  # consents of topics are kept beside the channels' ("topic:promotions")


def store_event(event: StoredEvent) -> None:
    """Keep the event on the contact's timeline, then hand it to the funnels."""
    retention = timedelta(days=wiring.storage().event_retention_days)
    save_events([event_item(event, datetime.now(UTC), retention)])
    wiring.event_sink().handle([event])


def set_consent(
    contact_id: str,
    channel: str,
    granted: bool,
    *,
    source: str,
    event_id: str,
    at: datetime | None = None,
    properties: dict[str, Any] | None = None,
) -> bool:
    """Record the person's choice for `channel` (or a topic: "topic:<name>"); True when it
    changed (and an event went out: `unsubscribed` / `subscribed {channel}`, for a topic
    `topic_unsubscribed` / `topic_subscribed {topic}`)."""
    at = at or datetime.now(UTC)
    for _ in range(5):  # optimistic locking on Contact.version
        try:
            contact = Contact.get(contact_id, consistent_read=True)
        except Contact.DoesNotExist:
            return False
        consents = dict(plain(contact.consents) or {})
        current = consents.get(channel)
        if isinstance(current, dict) and current.get("granted") is granted:
            return False
        consents[channel] = {"granted": granted, "at": at.isoformat(), "source": source}
        try:
            contact.update(actions=[Contact.consents.set(consents)])
            break
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
    else:
        return False
    name = "unsubscribed" if not granted else "subscribed"
    about: dict[str, Any] = {"channel": channel}
    if channel.startswith(TOPIC):  # a topic is not a channel: funnels exiting on
        name, about = f"topic_{name}", {"topic": channel[len(TOPIC) :]}  # `unsubscribed` stay
    store_event(
        StoredEvent(
            contact_id=contact_id,
            event_id=event_id,
            type="track",
            name=name,
            timestamp=at,
            properties={**about, **(properties or {})},
            source=source,
        )
    )
    return True


def revoke(contact_id: str, channel: str, *, source: str, event_id: str, **kwargs: Any) -> bool:
    return set_consent(contact_id, channel, False, source=source, event_id=event_id, **kwargs)


def grant(contact_id: str, channel: str, *, source: str, event_id: str, **kwargs: Any) -> bool:
    return set_consent(contact_id, channel, True, source=source, event_id=event_id, **kwargs)
