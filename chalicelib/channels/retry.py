"""Provider errors: which are worth retrying, which never will succeed, and a bounded retry loop.

Temporary: 429, 5xx, timeouts, connection errors (honour Retry-After). Permanent: the rest of 4xx,
with `address_unreachable` set only when the provider says the address itself is dead (invalid
number, blocked bot, hard bounce) - a bad API key is permanent but the contact is fine.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from chalicelib.channels.base import ChannelUnavailable, PermanentFailure, TemporaryFailure

T = TypeVar("T")

# Twilio error codes (https://www.twilio.com/docs/api/errors)
TWILIO_UNREACHABLE = {
    21211,  # invalid 'To' phone number
    21214,  # 'To' phone number cannot be reached
    21217,  # phone number does not appear to be valid
    21401,  # invalid phone number
    21407,  # this phone number type does not support SMS
    21421,  # phone number is invalid
    21610,  # recipient replied STOP: Twilio blocks every later message
    21612,  # cannot route to this number
    21614,  # 'To' number is not a valid mobile number
    30003,  # unreachable destination handset
    30005,  # unknown destination handset
    30006,  # landline or unreachable carrier
    63003,  # WhatsApp: the number is not on WhatsApp
}
TWILIO_TEMPORARY = {20429, 21611, 20500, 20503, 30001, 30008}  # rate, queue full, server errors
TWILIO_TRY_NEXT_CHANNEL = {63016}  # WhatsApp free-form message outside the 24-hour window
TELEGRAM_UNREACHABLE_HINTS = ("blocked", "deactivated", "chat not found", "user not found")
META_UNREACHABLE = {551, 2018001, 2018108, 1545041}  # person unavailable / no such user
META_OUTSIDE_WINDOW = {2018278, 2018065, 10}  # outside the allowed window
META_TEMPORARY = {1, 2, 4, 17, 32, 613}  # unknown/service/rate-limit errors


def retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait, from `Retry-After` (seconds or HTTP date) or `X-RateLimit-Reset` (epoch)."""
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    now = time.time() if now is None else now
    value = (lowered.get("retry-after") or "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                return max(0.0, when.timestamp() - now)
    reset = (lowered.get("x-ratelimit-reset") or "").strip()
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def classify_http(
    status: int, headers: Mapping[str, str] | None = None, detail: str = ""
) -> TemporaryFailure | PermanentFailure:
    """Generic HTTP classification (webhook channel; fallback for the others)."""
    message = f"HTTP {status}" + (f": {detail[:300]}" if detail else "")
    if status == 429 or status >= 500 or status == 408:
        return TemporaryFailure(message, retry_after(headers), code=str(status))
    return PermanentFailure(message, address_unreachable=status == 410, code=str(status))


def classify_twilio(
    status: int, code: int | None, detail: str = "", headers: Mapping[str, str] | None = None
) -> TemporaryFailure | PermanentFailure:
    message = f"Twilio {code or status}: {detail[:300]}"
    if code in TWILIO_TRY_NEXT_CHANNEL:
        return ChannelUnavailable(message, code=str(code))
    if code in TWILIO_TEMPORARY or status == 429 or status >= 500:
        return TemporaryFailure(message, retry_after(headers), code=str(code or status))
    return PermanentFailure(
        message, address_unreachable=code in TWILIO_UNREACHABLE, code=str(code or status)
    )


def classify_sendgrid(
    status: int, body: Any = None, headers: Mapping[str, str] | None = None
) -> TemporaryFailure | PermanentFailure:
    detail = _text(body)
    if status == 429 or status >= 500:
        return TemporaryFailure(
            f"SendGrid {status}: {detail[:300]}", retry_after(headers), str(status)
        )
    # A 400 naming the recipient ("personalizations.0.to...") is a bad address; 401/403 are ours.
    unreachable = status == 400 and "personalizations" in detail and ".to" in detail
    return PermanentFailure(f"SendGrid {status}: {detail[:300]}", unreachable, code=str(status))


def classify_telegram(
    status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> TemporaryFailure | PermanentFailure:
    description = str(payload.get("description", ""))
    message = f"Telegram {status}: {description[:300]}"
    parameters = payload.get("parameters") or {}
    if status == 429 or status >= 500:
        wait = parameters.get("retry_after") if isinstance(parameters, Mapping) else None
        wait = float(wait) if isinstance(wait, int | float) else retry_after(headers)
        return TemporaryFailure(message, wait, code=str(status))
    lowered = description.lower()
    unreachable = status == 403 or any(hint in lowered for hint in TELEGRAM_UNREACHABLE_HINTS)
    return PermanentFailure(message, address_unreachable=unreachable, code=str(status))


def classify_meta(
    status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> TemporaryFailure | PermanentFailure:
    error = payload.get("error") if isinstance(payload.get("error"), Mapping) else {}
    code = error.get("code")
    subcode = error.get("error_subcode")
    message = f"Meta {code}/{subcode}: {str(error.get('message', ''))[:300]}"
    codes = {code, subcode}
    if codes & META_OUTSIDE_WINDOW and (subcode in META_OUTSIDE_WINDOW or code == 10):
        return ChannelUnavailable(message, code=str(subcode or code))
    if codes & META_UNREACHABLE:
        return PermanentFailure(message, address_unreachable=True, code=str(subcode or code))
    if codes & META_TEMPORARY or status == 429 or status >= 500:
        return TemporaryFailure(message, retry_after(headers), code=str(subcode or code))
    return PermanentFailure(message, address_unreachable=False, code=str(subcode or code))


def _text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return "" if body is None else str(body)


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int = 3,
    base_delay: float = 0.5,
    max_delay: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`, retrying TemporaryFailure up to `attempts` times in all, with exponential
    backoff and jitter, or the provider's Retry-After when it gave one. Bounded: a Retry-After
    longer than `max_delay` is not slept through here - it is re-raised so the caller can
    schedule the send later instead of holding a Lambda open."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TemporaryFailure as failure:
            if attempt == attempts:
                raise
            wait = failure.retry_after
            if wait is None:
                wait = min(max_delay, base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if wait > max_delay:
                raise
            sleep(wait)
    raise AssertionError("unreachable")


def retry_at(failure: TemporaryFailure, now: datetime, default_seconds: float = 60.0) -> datetime:
    """When a send that failed temporarily should be tried again (for the runtime's wake-up)."""
    wait = failure.retry_after if failure.retry_after is not None else default_seconds
    return now + timedelta(seconds=wait)
