"""Reading the loosely typed fields of shop and messenger payloads (amounts as strings, ids as
huge integers, phone numbers in local formats) into what events carry."""

from __future__ import annotations

import hashlib
import json
from contextlib import suppress
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib.identity.keys import InvalidIdentity, normalise_email, normalise_phone
from chalicelib.ingest import limits


def text(value: Any) -> str | None:
    """A non-empty string (ids that arrive as numbers become strings: Shopify's exceed 2^53)."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    result = str(value).strip()
    return result or None


MAX_AMOUNT = Decimal("1e12")  # beyond any order: a broken payload, not money


def money(value: Any) -> float | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite() or abs(number) >= MAX_AMOUNT:
        return None
    return float(round(number, 2))


def count(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def email(value: Any) -> str | None:
    raw = text(value)
    if raw is None:
        return None
    try:
        return normalise_email(raw)
    except InvalidIdentity:
        return None


def phone(value: Any, region: str = "") -> str | None:
    """E.164, using the address's country for numbers written without "+"; None if unusable."""
    raw = text(value)
    if raw is None or any(char.isalpha() for char in raw):
        return None  # "555-555-SHIP" is a placeholder, not a vanity number to dial
    for guess in dict.fromkeys((region.upper(), "")):
        with suppress(InvalidIdentity):
            return normalise_phone(raw, guess)
    return None


EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def timestamp(value: Any, default: datetime) -> datetime:
    """ISO 8601 (a value without offset is UTC, as WooCommerce's *_gmt fields are); `default`
    for anything else, or a time outside 1970-2200."""
    raw = text(value)
    if raw is None:
        return default
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return default
    return parsed if EARLIEST <= parsed < LATEST else default


def epoch(value: Any, default: datetime, millis: bool = False) -> datetime:
    try:
        seconds = float(value) / (1000 if millis else 1)
        parsed = datetime.fromtimestamp(seconds, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return default
    return parsed if EARLIEST <= parsed < LATEST else default


def digest(body: Any) -> str:
    """A stable id for a payload that carries none of its own (replays get the same one)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32]


def loads(raw: bytes) -> Any:
    """JSON without NaN/Infinity (DynamoDB cannot store them), nested at most as deep as
    DynamoDB stores (ValueError otherwise)."""
    return limits.loads(raw)
