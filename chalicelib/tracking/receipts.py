"""Once-only processing of provider callbacks (they all redeliver; SendGrid up to 46 times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import PutError

from chalicelib.storage.models import Receipt

KEEP_FOR = timedelta(days=3)  # longer than any provider's redelivery window (SendGrid: 24 h)


def claim(key: str, now: datetime | None = None) -> bool:
    """True the first time `key` is claimed, False for a replay (conditional put)."""
    now = now or datetime.now(UTC)
    receipt = Receipt(key=key, created_at=now, expires_at=now + KEEP_FOR)
    try:
        receipt.save(condition=Receipt.key.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release(key: str) -> None:
    """Forget a claim whose processing failed, so the provider's retry is processed."""
    Receipt(key=key).delete()
