"""Per-channel rate limiting inside one process (one Lambda container): token buckets sized to
the providers' documented limits, so a burst of sends does not turn into a burst of 429s.

Twilio long code: 1 segment/s per sender (toll-free 3/s, short code 30+/s: set
TWILIO_MESSAGES_PER_SECOND); Telegram: ~30 messages/s per bot and ~1/s per chat; SendGrid has no
per-second limit but answers 429 with X-RateLimit-* headers (handled by retry.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chalicelib.channels.base import TemporaryFailure


class TokenBucket:
    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()
        self.lock = threading.Lock()

    def _reserve(self, amount: float) -> float:
        """Take `amount` tokens (going negative if needed); return how long to wait."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens -= amount
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def acquire(self, amount: float = 1.0, max_wait: float = 10.0) -> float:
        """Block until `amount` tokens are available; returns the time waited. A wait longer than
        `max_wait` gives the tokens back and raises TemporaryFailure (send later instead)."""
        wait = self._reserve(amount)
        if wait > max_wait:
            with self.lock:
                self.tokens += amount
            raise TemporaryFailure(f"rate limit: next slot in {wait:.1f}s", retry_after=wait)
        if wait > 0:
            self.sleep(wait)
        return wait


@dataclass(frozen=True)
class Limit:
    per_second: float
    per_address_per_second: float | None = None  # e.g. Telegram's ~1 message/s per chat


DEFAULT_LIMITS: dict[str, Limit] = {
    "sms": Limit(1.0),  # counted in segments
    "whatsapp": Limit(1.0),
    "telegram": Limit(30.0, per_address_per_second=1.0),
    "messenger": Limit(20.0),
    "instagram": Limit(20.0),
    "email": Limit(100.0),
    "webhook": Limit(20.0),
}


class RateLimiter:
    """One bucket per channel, plus one per (channel, address) where the provider limits that."""

    def __init__(
        self,
        limits: Mapping[str, Limit] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self.clock = clock
        self.sleep = sleep
        self.buckets: dict[tuple[str, str], TokenBucket] = {}
        self.lock = threading.Lock()

    def _bucket(self, channel: str, address: str, rate: float) -> TokenBucket:
        with self.lock:
            key = (channel, address)
            if key not in self.buckets:
                if len(self.buckets) > 10_000:  # per-chat buckets: keep a warm container bounded
                    self.buckets = {k: v for k, v in self.buckets.items() if not k[1]}
                self.buckets[key] = TokenBucket(rate, clock=self.clock, sleep=self.sleep)
            return self.buckets[key]

    def acquire(
        self, channel: str, address: str = "", amount: float = 1.0, max_wait: float = 10.0
    ) -> None:
        limit = self.limits.get(channel)
        if limit is None:
            return
        if limit.per_address_per_second and address:
            self._bucket(channel, address, limit.per_address_per_second).acquire(1.0, max_wait)
        self._bucket(channel, "", limit.per_second).acquire(amount, max_wait)


def limits_from(providers: Mapping[str, str]) -> dict[str, Limit]:
    limits = dict(DEFAULT_LIMITS)
    raw = providers.get("TWILIO_MESSAGES_PER_SECOND", "").strip()
    if raw:
        try:
            rate = float(raw)
        except ValueError:
            rate = 0.0
        if rate > 0:
            limits["sms"] = limits["whatsapp"] = Limit(rate)
    return limits
