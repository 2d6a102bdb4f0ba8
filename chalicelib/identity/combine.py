"""How two contacts' profiles combine in a merge (pure: dicts in, dict out).

Attributes: the more recently seen contact wins each conflicting key. First touch and first seen
come from whichever was first; last touch and last seen from whichever was last. Counts add up.
Consents: per channel, the newest decision wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

COUNTS = ("sessions", "page_views", "orders_count", "total_spent")


def combine(survivor: dict[str, Any], absorbed: dict[str, Any]) -> dict[str, Any]:
    older, newer = sorted((absorbed, survivor), key=_last_seen)
    first, _ = sorted((absorbed, survivor), key=_first_seen)
    combined: dict[str, Any] = {
        "attributes": {**(older.get("attributes") or {}), **(newer.get("attributes") or {})},
        "consents": _consents(survivor.get("consents") or {}, absorbed.get("consents") or {}),
        "first_seen": _pick(min, survivor.get("first_seen"), absorbed.get("first_seen")),
        "last_seen": _pick(max, survivor.get("last_seen"), absorbed.get("last_seen")),
        "first_touch": first.get("first_touch")
        or survivor.get("first_touch")
        or absorbed.get("first_touch"),
        "last_touch": newer.get("last_touch") or older.get("last_touch"),
        "last_order_at": _pick(max, survivor.get("last_order_at"), absorbed.get("last_order_at")),
        "timezone": newer.get("timezone") or older.get("timezone"),
        "tags": set(survivor.get("tags") or ()) | set(absorbed.get("tags") or ()) or None,
    }
    for name in COUNTS:
        combined[name] = (survivor.get(name) or 0) + (absorbed.get(name) or 0)
    return combined


def _consents(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    merged = dict(a)
    for channel, decision in b.items():
        mine = merged.get(channel)
        if mine is None or str(_get(decision, "at")) > str(_get(mine, "at")):
            merged[channel] = decision
    return merged


def _get(decision: Any, key: str) -> Any:
    return decision.get(key, "") if isinstance(decision, dict) else ""


def _pick(choose: Any, *values: datetime | None) -> datetime | None:
    present = [value for value in values if value is not None]
    return choose(present) if present else None


def _last_seen(profile: dict[str, Any]) -> str:
    value = profile.get("last_seen")
    return value.isoformat() if isinstance(value, datetime) else ""


def _first_seen(profile: dict[str, Any]) -> str:
    value = profile.get("first_seen")
    return value.isoformat() if isinstance(value, datetime) else "9999"
