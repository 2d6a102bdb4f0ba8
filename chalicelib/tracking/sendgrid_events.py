"""SendGrid event webhook events -> message statuses, dead addresses and email opt-outs."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.storage.models import Message
from chalicelib.tracking import consent, identities, message_status, receipts

STATUS = {
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


def receipt_key(event: dict[str, Any]) -> str:
    event_id = event.get("sg_event_id")
    if not event_id:  # never seen in practice; a digest keeps replays idempotent anyway
        event_id = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
    return f"sendgrid:{event_id}"


def _message_for(event: dict[str, Any]) -> Message | None:
    message_id = event.get("message_id")  # our custom arg, echoed on every event
    if isinstance(message_id, str) and message_id:
        message = message_status.find(message_id)
        if message is not None:
            return message
    sg_message_id = str(event.get("sg_message_id") or "")
    if sg_message_id:  # "<X-Message-Id>.<filter>..." - the prefix is what the send returned
        return message_status.find_by_provider_id(sg_message_id.split(".")[0])
    return None


def _at(event: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(event["timestamp"]), UTC)
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)


def process(event: dict[str, Any]) -> bool:
    """Apply one event; False when it was a replay (already processed) or not ours."""
    kind = str(event.get("event") or "")
    if kind not in STATUS:
        return False
    message = _message_for(event)
    if message is None:
        return False
    key = receipt_key(event)
    if not receipts.claim(key):
        return False
    try:
        _apply(kind, event, message)
    except Exception:
        receipts.release(key)  # let SendGrid's retry process it
        raise
    return True


def _apply(kind: str, event: dict[str, Any], message: Message) -> None:
    at = _at(event)
    details = {field: event.get(field) for field in DETAIL_FIELDS if event.get(field) is not None}
    details["provider_event"] = kind
    address = str(event.get("email") or message.address or "")
    if kind == "dropped" or (kind == "bounce" and event.get("type") != "blocked"):
        # A hard bounce or a suppressed address: never mail it again. ("blocked" is temporary.)
        identities.mark_unreachable(message.contact_id, "email", address, at)
    if kind in OPT_OUTS:
        consent.revoke(
            message.contact_id,
            "email",
            source="sendgrid",
            event_id=str(event.get("sg_event_id") or receipt_key(event)),
            at=at,
            properties={"message_id": message.message_id, "reason": kind},
        )
    message_status.record(message, STATUS[kind], at, details)
