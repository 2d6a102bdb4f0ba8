"""One contact's analytics and journey for the dashboard: LTV, RFM, segments, messages and
enrollments (the events timeline comes from the admin contacts API)."""

from __future__ import annotations

from typing import Any

from chalicelib.storage import messages as message_store
from chalicelib.storage.models import ContactStats, Enrollment

MESSAGES = 50


def journey(contact_id: str) -> dict[str, Any]:
    try:
        stats: ContactStats | None = ContactStats.get(contact_id)
    except ContactStats.DoesNotExist:
        stats = None
    rfm = stats.rfm.as_dict() if stats is not None and stats.rfm is not None else None
    return {
        "contact_id": contact_id,
        "cohort": stats.cohort if stats else None,
        "campaign": stats.campaign if stats else None,
        "first_seen": stats.first_seen.isoformat() if stats else None,
        "orders": int(stats.orders) if stats else 0,
        "ltv": _money(stats.revenue) if stats else 0,
        "last_order_at": stats.last_order_at.isoformat() if stats and stats.last_order_at else None,
        "rfm": rfm,
        "segments": sorted(stats.segments or ()) if stats else [],
        "messages": [_message(m) for m in message_store.of_contact(contact_id, True, MESSAGES)],
        "enrollments": [_enrollment(e) for e in Enrollment.query(contact_id)],
    }


def _message(message: Any) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "funnel": message.funnel,
        "step_id": message.step_id,
        "template_id": message.template_id,
        "channel": message.channel,
        "status": message.status,
        "created_at": message.created_at.isoformat(),
        "subject": (message.content or {}).get("subject"),
        "history": [
            {"status": entry.get("status"), "at": entry.get("at")}
            for entry in message.status_history or ()
        ],
    }


def _enrollment(row: Enrollment) -> dict[str, Any]:
    state = row.state or {}
    return {
        "funnel": row.funnel,
        "version": int(row.funnel_version),
        "status": row.status,
        "step": row.current_step,
        "started_at": row.started_at.isoformat(),
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "value": state.get("value"),
        "splits": state.get("splits", {}),
    }


def _money(value: float) -> float:
    return int(value) if float(value).is_integer() else round(float(value), 2)
