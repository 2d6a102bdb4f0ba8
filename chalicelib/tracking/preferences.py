"""A person's preferences: which channels they get messages on and which topics (newsletter,
promotions ...). A channel is listed when the person has an address there; a topic when a
funnel (or a broadcast) names it. Switching one off is the same consent record an unsubscribe
link or STOP writes (`consents.<channel>`, `consents["topic:<name>"]`), so every send honours
it; switching back on is an explicit opt-in from the person's own signed link."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.channels import reachability
from chalicelib.channels.routing import consented
from chalicelib.tracking import consent

TOPIC = consent.TOPIC
CHANNEL_NAMES = {
    "email": "Emails",
    "sms": "Text messages (SMS)",
    "whatsapp": "WhatsApp messages",
    "telegram": "Telegram messages",
    "messenger": "Facebook Messenger messages",
    "instagram": "Instagram messages",
}


@dataclass(frozen=True)
class Choice:
    key: str  # "email", "topic:promotions"
    label: str
    enabled: bool


def choices(contact_id: str, topics: Iterable[str]) -> list[Choice]:
    reach = reachability.load(contact_id)
    found = [
        Choice(channel, label, consented(reach.consents, channel))
        for channel, label in CHANNEL_NAMES.items()
        if channel in reach.addresses
    ]
    found += [
        Choice(TOPIC + topic, topic.replace("_", " ").capitalize(), _topic_on(reach, topic))
        for topic in sorted(set(topics))
    ]
    return found


def _topic_on(reach: reachability.Reachability, topic: str) -> bool:
    return consented(reach.consents, TOPIC + topic)


def save(
    contact_id: str,
    message_id: str,
    wanted: Collection[str],
    topics: Iterable[str],
    now: datetime,
) -> list[str]:
    """Apply the page's form (`wanted`: the keys left switched on); returns what changed."""
    changed = []
    for choice in choices(contact_id, topics):
        on = choice.key in wanted
        if on == choice.enabled:
            continue
        consent.set_consent(
            contact_id,
            choice.key,
            on,
            source="preferences_page",
            event_id=f"preferences:{message_id}:{choice.key}:{now.isoformat()}",
            at=now,
            properties={"message_id": message_id},
        )
        changed.append(choice.key)
    return changed
