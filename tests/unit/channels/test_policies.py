"""Routing, quiet hours, rate limits, retries: the rules that decide whether and when we send."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.channels.base import ChannelUnavailable, PermanentFailure, TemporaryFailure
from chalicelib.channels.quiet_hours import QuietHours, next_allowed_time, zones_for_phone
from chalicelib.channels.ratelimit import Limit, RateLimiter, TokenBucket, limits_from
from chalicelib.channels.retry import (
    classify_http,
    classify_meta,
    classify_sendgrid,
    classify_telegram,
    classify_twilio,
    retry_after,
    with_retries,
)
from chalicelib.channels.routing import choose_route
from chalicelib.channels.segments import sms_segments

ALL = ("email", "sms", "whatsapp", "telegram")
ADDRESSES = {"email": "a@example.com", "sms": "+12125550100", "whatsapp": "+12125550100"}


class TestRouting:
    def test_first_channel_with_address_consent_and_reachability_wins(self) -> None:
        order = ["telegram", "whatsapp", "sms", "email"]
        assert choose_route(order, ADDRESSES, {}, set(), ALL) == ("whatsapp", "+12125550100")

    def test_opt_out_unreachable_and_unconfigured_channels_are_skipped(self) -> None:
        order = ["whatsapp", "sms", "email"]
        consents = {"sms": {"granted": False, "at": "2026-01-01T00:00:00+00:00"}}
        route = choose_route(order, ADDRESSES, consents, {"whatsapp"}, ALL)
        assert route == ("email", "a@example.com")
        assert choose_route(["sms"], ADDRESSES, {}, set(), {"email"}) is None
        assert choose_route(["sms"], ADDRESSES, {"sms": {"granted": True}}, set(), ALL)

    def test_no_usable_channel_is_none(self) -> None:
        consents = {"email": {"granted": False}}
        assert choose_route(["email", "telegram"], ADDRESSES, consents, set(), ALL) is None


def at(hour: int, minute: int = 0, day: int = 15) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


class TestQuietHours:
    def test_sms_at_22_new_york_waits_until_8_local(self) -> None:
        # 03:00 UTC = 22:00 in New York (EST): next allowed is 08:00 EST = 13:00 UTC.
        assert next_allowed_time("sms", at(3), phone="+12125550100") == at(13)

    def test_daytime_is_allowed_immediately(self) -> None:
        assert next_allowed_time("sms", at(18), phone="+12125550100") == at(18)

    def test_known_contact_zone_beats_the_phone_number(self) -> None:
        # 07:30 UTC is 08:30 in Berlin: allowed, though it is 02:30 in New York.
        when = at(7, 30)
        assert (
            next_allowed_time("sms", when, timezone="Europe/Berlin", phone="+12125550100") == when
        )

    def test_area_code_picks_the_zone(self) -> None:
        # 15:30 UTC: 07:30 in Los Angeles (415) -> wait until 16:00 UTC.
        assert next_allowed_time("sms", at(15, 30), phone="+14155550100") == at(16)

    def test_unknown_area_code_must_be_allowed_in_every_mainland_zone(self) -> None:
        assert zones_for_phone("+15555550100")[0] == "America/New_York"
        # 13:00 UTC is 08:00 in New York but 05:00 in Los Angeles: wait for LA's 08:00 (16:00 UTC).
        assert next_allowed_time("sms", at(13), phone="+15555550100") == at(16)
        # 01:30 UTC is 20:30 in New York, past 17:00 in LA: fine everywhere.
        assert next_allowed_time("sms", at(1, 30), phone="+15555550100") == at(1, 30)

    def test_email_has_no_default_quiet_hours_and_custom_hours_apply(self) -> None:
        assert next_allowed_time("email", at(3), phone="+12125550100") == at(3)
        lunch = QuietHours(
            start=datetime(2000, 1, 1, 12).time(), end=datetime(2000, 1, 1, 13).time()
        )
        assert next_allowed_time("email", at(12, 30), timezone="UTC", quiet=lunch) == at(13)

    def test_unparseable_number_without_zone_falls_back_to_utc(self) -> None:
        assert next_allowed_time("sms", at(22), phone="not a number") == at(8, day=16)


class TestRateLimit:
    def test_bucket_spaces_sends_at_the_provider_rate(self) -> None:
        clock = [0.0]
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            clock[0] += seconds

        bucket = TokenBucket(rate=1.0, clock=lambda: clock[0], sleep=sleep)
        for _ in range(3):
            bucket.acquire()
        assert slept == [1.0, 1.0]  # 1 message/s: the 2nd and 3rd wait a second each

    def test_long_wait_is_a_temporary_failure_not_a_stall(self) -> None:
        bucket = TokenBucket(rate=1.0, clock=lambda: 0.0, sleep=lambda s: None)
        bucket.acquire(1)
        with pytest.raises(TemporaryFailure) as failure:
            bucket.acquire(30, max_wait=10)  # a 30-segment SMS would wait 30 s
        assert failure.value.retry_after == pytest.approx(30)
        bucket.acquire(1, max_wait=10)  # the refused tokens were given back

    def test_telegram_limits_each_chat_to_one_per_second(self) -> None:
        clock = [0.0]
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            clock[0] += seconds

        limiter = RateLimiter({"telegram": Limit(30, 1)}, clock=lambda: clock[0], sleep=sleep)
        limiter.acquire("telegram", "chat-1")
        limiter.acquire("telegram", "chat-2")
        assert slept == []
        limiter.acquire("telegram", "chat-1")
        assert slept == [1.0]

    def test_twilio_rate_is_configurable(self) -> None:
        assert limits_from({"TWILIO_MESSAGES_PER_SECOND": "3"})["sms"].per_second == 3


class TestClassification:
    def test_twilio_codes(self) -> None:
        invalid = classify_twilio(400, 21211, "Invalid 'To' Phone Number")
        assert isinstance(invalid, PermanentFailure) and invalid.address_unreachable
        auth = classify_twilio(401, 20003, "Authenticate")
        assert isinstance(auth, PermanentFailure) and not auth.address_unreachable
        busy = classify_twilio(429, 20429, "Too many requests", {"Retry-After": "3"})
        assert isinstance(busy, TemporaryFailure) and busy.retry_after == 3
        assert isinstance(classify_twilio(400, 63016, "outside window"), ChannelUnavailable)

    def test_sendgrid_telegram_meta_webhook(self) -> None:
        assert isinstance(classify_sendgrid(503, b"down"), TemporaryFailure)
        bad_to = classify_sendgrid(400, b'{"errors":[{"field":"personalizations.0.to.0.email"}]}')
        assert isinstance(bad_to, PermanentFailure) and bad_to.address_unreachable
        key = classify_sendgrid(401, b"bad key")
        assert isinstance(key, PermanentFailure) and not key.address_unreachable
        blocked = classify_telegram(403, {"description": "Forbidden: bot was blocked by the user"})
        assert isinstance(blocked, PermanentFailure) and blocked.address_unreachable
        flood = classify_telegram(429, {"parameters": {"retry_after": 7}})
        assert isinstance(flood, TemporaryFailure) and flood.retry_after == 7
        window = classify_meta(400, {"error": {"code": 10, "error_subcode": 2018278}})
        assert isinstance(window, ChannelUnavailable)
        gone = classify_meta(400, {"error": {"code": 551}})
        assert isinstance(gone, PermanentFailure) and gone.address_unreachable
        assert isinstance(classify_http(502), TemporaryFailure)
        assert classify_http(410).address_unreachable

    def test_retry_after_header_forms(self) -> None:
        assert retry_after({"Retry-After": "12"}) == 12
        assert retry_after({"retry-after": "Thu, 01 Jan 2026 00:00:10 GMT"}, now=1767225600) == 10
        assert retry_after({"X-RateLimit-Reset": "1767225630"}, now=1767225600) == 30
        assert retry_after({}) is None


class TestRetries:
    def test_retries_temporary_failures_honouring_retry_after(self) -> None:
        calls = iter([TemporaryFailure("429", retry_after=2), TemporaryFailure("503"), "ok"])
        slept: list[float] = []

        def call() -> str:
            outcome = next(calls)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        assert with_retries(call, sleep=slept.append) == "ok"
        assert slept[0] == 2 and 0 < slept[1] <= 1.0

    def test_bounded_and_permanent_failures_are_not_retried(self) -> None:
        attempts = []

        def always_busy() -> None:
            attempts.append(1)
            raise TemporaryFailure("503")

        with pytest.raises(TemporaryFailure):
            with_retries(always_busy, attempts=3, sleep=lambda s: None)
        assert len(attempts) == 3

        def dead() -> None:
            attempts.append(1)
            raise PermanentFailure("21211")

        attempts.clear()
        with pytest.raises(PermanentFailure):
            with_retries(dead, sleep=lambda s: None)
        assert len(attempts) == 1

    def test_a_long_retry_after_is_handed_back_to_the_caller(self) -> None:
        slept: list[float] = []

        def throttled() -> None:
            raise TemporaryFailure("429", retry_after=3600)

        with pytest.raises(TemporaryFailure):
            with_retries(throttled, sleep=slept.append)
        assert slept == []


def test_sms_segments() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("€" * 80) == 1  # extension characters count double: 160 septets
    assert sms_segments("Привет" * 12) == 2  # 72 UCS-2 characters
