"""Exactly-once on messageId: a Receipt claimed by conditional put before a call is stored.

Keys are "segment:{key hash}:{messageId}", so two sites' ids never collide and the write key
itself is not copied into the table. Receipts expire (TTL) after the dedupe window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextlib import suppress
from datetime import datetime, timedelta

from pynamodb.exceptions import PynamoDBException

from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.models import Receipt


def receipt_key(write_key: str, message_id: str) -> str:
    site = hashlib.sha256(write_key.encode()).hexdigest()[:16]
    return f"segment:{site}:{message_id}"


def claim(key: str, now: datetime, window: timedelta) -> bool:
    """True if this delivery is the first; False for a duplicate."""
    receipt = Receipt(key, created_at=now, expires_at=now + window)
    try:
        with conflicts_as_domain_errors("claim receipt"):
            receipt.save(condition=Receipt.key.does_not_exist())
    except ConflictError:
        return False
    return True


def release(keys: Iterable[str]) -> None:
    """Forget claims whose calls could not be stored, so the client's retry stores them."""
    for key in keys:
        with suppress(PynamoDBException):  # best effort: the caller reports the original error
            Receipt(key).delete()
