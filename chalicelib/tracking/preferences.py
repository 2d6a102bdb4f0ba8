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
from chalicelib.eventlog.entry import CONSENT, VERIFIED, Entry, contact_subject
from chalicelib.tracking import consent

TOPIC = consent.TOPIC
SOURCE = "preferences_page"
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


def changes(
    contact_id: str,
    message: tuple[str, str],
    wanted: Collection[str],
    topics: Iterable[str],
    now: datetime,
) -> list[Entry]:
    """The page's form (`wanted`: the keys left switched on) as consent entries for the event
    log, one per choice that changed. The worker records them; funnels see `unsubscribed` /
    `subscribed {channel}`, or for a topic `topic_unsubscribed` / `topic_subscribed {topic}` (a
    topic is not a channel: funnels exiting on `unsubscribed` carry on). `message`: (id,
    channel) of the message whose link opened the page: switching its own channel off is an
    unsubscribe from it (its figures count it, its enrollment ends); others only name it."""
    message_id, message_channel = message
    found = []
    for choice in choices(contact_id, topics):
        on = choice.key in wanted
        if on == choice.enabled:
            continue
        name = "subscribed" if on else "unsubscribed"
        about: dict[str, str] = {"channel": choice.key}
        if choice.key.startswith(TOPIC):
            name, about["topic"] = f"topic_{name}", choice.key[len(TOPIC) :]
        found.append(
            Entry(
                subject=contact_subject(contact_id),
                event_id=f"preferences:{message_id}:{choice.key}:{now.isoformat()}",
                type=CONSENT,
                name=name,
                timestamp=now,
                properties={
                    **about,
                    "message_id" if choice.key == message_channel else "from_message": message_id,
                    "source": SOURCE,
                },
                source=SOURCE,
                trust=VERIFIED,  # the person's own signed link
            )
        )
    return found
