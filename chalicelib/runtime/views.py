"""The runtime's part of the admin views: a contact's enrollments and messages as plain data."""

from __future__ import annotations

from typing import Any

from chalicelib.storage import messages
from chalicelib.storage.models import Enrollment, Message


def enrollments_of(contact_id: str) -> list[dict[str, Any]]:
    rows = sorted(Enrollment.query(contact_id), key=lambda row: row.started_at, reverse=True)
    return [
        {
            "enrollment_id": row.enrollment_id,
            "funnel": row.funnel,
            "version": int(row.funnel_version),
            "status": row.status,
            "current_step": row.current_step,
            "next_wakeup": row.wake_at.isoformat() if row.wake_at else None,
            "started_at": row.started_at.isoformat(),
            "ended_at": row.ended_at.isoformat() if row.ended_at else None,
            "reason": row.state.get("reason"),
            "value": row.state.get("value"),
        }
        for row in rows
    ]


def messages_of(contact_id: str, limit: int = 100) -> list[dict[str, Any]]:
    return [message_summary(m) for m in messages.of_contact(contact_id, True, limit)]


def message_summary(message: Message) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "contact_id": message.contact_id,
        "funnel": message.funnel,
        "funnel_version": message.funnel_version,
        "step_id": message.step_id,
        "channel": message.channel,
        "via": message.via or message.channel,  # a provider's sender is named as its channel
        "address": message.address,
        "status": message.status,
        "content": message.content,
        "created_at": message.created_at.isoformat(),
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
        "error": message.error,
    }
