"""Saved segment definitions (the `segments` table, one partition), cached briefly per process."""

from __future__ import annotations

import time
from datetime import datetime

from chalicelib.core.segments import SegmentDefinition, stored_segment
from chalicelib.storage.models import SavedSegment

TTL_SECONDS = 30.0
# (table, loaded at, definitions): the table name keys it, so rebinding the models to another
# stage's tables (tests do) never serves the old stage's segments.
_cache: tuple[str, float, list[SegmentDefinition]] | None = None


def save(definition: SegmentDefinition, condition: object, now: datetime) -> bool:
    """Create or replace (the condition kept as written: `7d`, not a re-serialised duration);
    True when it is new."""
    try:
        row = SavedSegment.get("segment", definition.name, consistent_read=True)
        created = False
    except SavedSegment.DoesNotExist:
        row = SavedSegment("segment", definition.name, created_at=now)
        created = True
    row.condition = condition
    row.description = definition.description
    row.updated_at = now
    row.save()
    forget()
    return created


def delete(name: str) -> bool:
    try:
        SavedSegment.get("segment", name).delete()
    except SavedSegment.DoesNotExist:
        return False
    forget()
    return True


def rows() -> list[SavedSegment]:
    return list(SavedSegment.query("segment", consistent_read=True))


def definitions(fresh: bool = False) -> list[SegmentDefinition]:
    """The saved segments, at most TTL_SECONDS old unless `fresh` (a backfill started in
    another container right after a save must see the new definition)."""
    global _cache
    table = str(SavedSegment.Meta.table_name)
    if fresh or _cache is None or _cache[0] != table or time.monotonic() - _cache[1] > TTL_SECONDS:
        found = [
            stored_segment(row.name, {"condition": row.condition, "description": row.description})
            for row in rows()
        ]
        _cache = (table, time.monotonic(), found)
    return _cache[2]


def forget() -> None:
    global _cache
    _cache = None
