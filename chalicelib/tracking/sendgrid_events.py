"""SendGrid event webhook events -> log entries about our messages (statuses, dead addresses,
email opt-outs); the worker applies them. Pure: the route appends what this returns."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.eventlog.entry import PROVIDER, STATUS, VERIFIED, Entry, message_subject, namespaced

SOURCE = "sendgrid"
STATUS_OF = {
    "delivered": "delivered",
    "open": "opened",
    "click": "clicked",
    "bounce": "bounced",
    "dropped": "failed",
    "spamreport": "unsubscribed",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}
OPT_OUTS = {"spamreport", "unsubscribe", "group_unsubscribe"}
DETAIL_FIELDS = ("url", "reason", "type", "status", "bounce_classification", "useragent")


def event_id(event: dict[str, Any]) -> str:
    found = event.get("sg_event_id")
    if not found:  # never seen in practice; a digest keeps replays idempotent anyway
        found = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
    return str(found)


def entry(event: dict[str, Any], received: datetime) -> Entry | None:
    """None for an event we do not map, or one about a message that is not ours."""
    kind = str(event.get("event") or "")
    if kind not in STATUS_OF:
        return None
    subject = _subject(event)
    if subject is None:
        return None
    details: dict[str, Any] = {
        name: str(event[name])[:500] for name in DETAIL_FIELDS if event.get(name) is not None
    }
    details["provider_event"] = kind
    if event.get("email"):
        details["address"] = str(event["email"])
    if kind == "dropped" or (kind == "bounce" and event.get("type") != "blocked"):
        details["unreachable"] = True  # hard bounce, suppressed address ("blocked" is temporary)
    if kind in OPT_OUTS:
        details["opt_out"] = "email"
    return Entry(
        subject=subject,
        event_id=namespaced(SOURCE, event_id(event)),
        type=STATUS,
        name=STATUS_OF[kind],
        timestamp=_at(event, received),
        properties=details,
        source=SOURCE,
        trust=VERIFIED,
    )


def _subject(event: dict[str, Any]) -> str | None:
    message_id = event.get("message_id")  # our custom arg, echoed on every event
    if isinstance(message_id, str) and message_id:
        return message_subject(message_id)
    sg_message_id = str(event.get("sg_message_id") or "")
    if sg_message_id:  # "<X-Message-Id>.<filter>..." - the prefix is what the send returned
        return f"{PROVIDER}{sg_message_id.split('.')[0]}"
    return None


def _at(event: dict[str, Any], received: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(event["timestamp"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return received
