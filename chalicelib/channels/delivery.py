"""Carrying out one send decision: pick the channel, respect quiet hours, the SMS countries and
the daily limits, track links, send with rate limiting and retries, and mark dead addresses.
The runtime calls `deliver` and records the outcome on its Message record (channel, address,
provider_id, status)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.channels import countries, reachability
from chalicelib.channels.base import (
    Channel,
    ChannelUnavailable,
    OutgoingMessage,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
)
from chalicelib.channels.daily_limits import DailyBudget
from chalicelib.channels.onsite import ONSITE
from chalicelib.channels.quiet_hours import next_allowed_time
from chalicelib.channels.ratelimit import RateLimiter, limits_from
from chalicelib.channels.retry import retry_at, with_retries
from chalicelib.channels.routing import choose_route
from chalicelib.channels.segments import sms_segments
from chalicelib.config import Settings
from chalicelib.tracking import identities
from chalicelib.tracking.links import rewrite_links, sanitize_html
from chalicelib.tracking.urls import twilio_status_callback_url, unsubscribe_url

PHONE_CHANNELS = ("sms", "whatsapp")
PERSON_CHANNELS = ("email", "sms", "whatsapp", "telegram", "messenger", "instagram")


@dataclass(frozen=True)
class DeliveryOutcome:
    # sent: on `channel`; deferred: quiet hours, try at `not_before`; retry: the provider failed
    # temporarily, try at `not_before`; failed: every usable channel failed for good;
    # no_route: no channel is usable (no address, opted out, unreachable, country not allowed);
    # held: the channel's daily limit is used up (an operator releases or discards it).
    status: str
    channel: str | None = None
    address: str | None = None
    provider_id: str | None = None
    not_before: datetime | None = None
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    content: Mapping[str, Any] = field(default_factory=dict)  # as sent (links rewritten)
    skipped: tuple[tuple[str, str], ...] = ()  # (channel, why) passed over on the way


_limiters: dict[int, RateLimiter] = {}


def limiter_for(settings: Settings) -> RateLimiter:
    """One rate limiter per process (Lambda container) and settings."""
    key = id(settings)
    if key not in _limiters:
        _limiters.clear()
        _limiters[key] = RateLimiter(limits_from(settings.providers))
    return _limiters[key]


def deliver(
    channels: Mapping[str, Channel],
    *,
    settings: Settings,
    message_id: str,
    contact_id: str,
    channels_in_order: Sequence[str],
    render: Callable[[str], Mapping[str, Any]],
    now: datetime | None = None,
    funnel: str | None = None,
    step_id: str | None = None,
    quiet_hours: bool = True,
    contact: reachability.Reachability | None = None,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    budget: DailyBudget | None = None,
    released: bool = False,
) -> DeliveryOutcome:
    """Send one message on the first usable channel of `channels_in_order`.

    `render(channel)` returns the rendered content for that channel (subject/html/text for
    email; text/buttons for the others; `url` and `json` for webhook). `channels` is
    `build_channels(settings)` (or `channels_for(settings)`). Never raises for provider errors:
    the outcome says what happened. Idempotency (one send per message_id) is the caller's.
    """
    now = now or datetime.now(UTC)
    contact = contact or reachability.load(contact_id)
    limiter = limiter or limiter_for(settings)
    addresses = dict(contact.addresses)
    rendered: dict[str, Mapping[str, Any]] = {}
    if "webhook" in channels_in_order:
        rendered["webhook"] = render("webhook")
        if rendered["webhook"].get("url"):
            addresses["webhook"] = str(rendered["webhook"]["url"])
    excluded: set[str] = set()
    skipped: list[tuple[str, str]] = []
    for name in PHONE_CHANNELS:  # SMS pumping: premium-rate numbers abroad never get a text
        refused = countries.refusal(addresses.get(name), settings.allowed_sms_countries)
        if name in channels_in_order and refused:
            excluded.add(name)
            skipped.append((name, refused))
    last_error: str | None = None
    while True:
        remaining = [name for name in channels_in_order if name not in excluded]
        route = choose_route(
            remaining, addresses, contact.consents, contact.unreachable, configured=channels.keys()
        )
        if route is None:
            status = "failed" if last_error else "no_route"
            return DeliveryOutcome(status, error=last_error, skipped=tuple(skipped))
        name, address = route
        if quiet_hours and name in PERSON_CHANNELS:
            allowed = next_allowed_time(
                name,
                now,
                timezone=contact.timezone,
                phone=address if name in PHONE_CHANNELS else contact.phone,
            )
            if allowed > now:
                return DeliveryOutcome(
                    "deferred", name, address, not_before=allowed, skipped=tuple(skipped)
                )
        if name not in rendered:
            rendered[name] = render(name)
        outgoing = prepare(
            settings,
            message_id=message_id,
            contact_id=contact_id,
            channel=name,
            address=address,
            content=rendered[name],
            funnel=funnel,
            step_id=step_id,
            window_until=contact.window_until.get(name),
            now=now,
        )
        if budget is not None and not budget.take(name, now, force=released):
            return DeliveryOutcome(
                "held",
                name,
                address,
                error=f"the daily {name} limit is used up",
                skipped=tuple(skipped),
            )
        try:
            result = _counted_send(channels[name], outgoing, limiter, sleep, budget, now)
        except ChannelUnavailable as failure:
            excluded.add(name)
            skipped.append((name, str(failure)))
            continue
        except TemporaryFailure as failure:
            return DeliveryOutcome(
                "retry",
                name,
                address,
                not_before=retry_at(failure, now),
                error=str(failure),
                content=outgoing.content,
                skipped=tuple(skipped),
            )
        except PermanentFailure as failure:
            if failure.address_unreachable and name in PERSON_CHANNELS:
                identities.mark_unreachable(contact_id, name, address, now)
            excluded.add(name)
            skipped.append((name, str(failure)))
            last_error = str(failure)
            continue
        return DeliveryOutcome(
            result.status,
            name,
            address,
            provider_id=result.provider_id,
            details=dict(result.details),
            content=outgoing.content,
            skipped=tuple(skipped),
        )


def _counted_send(
    sender: Channel,
    outgoing: OutgoingMessage,
    limiter: RateLimiter,
    sleep: Callable[[float], None],
    budget: DailyBudget | None,
    now: datetime,
) -> SendResult:
    """`send`, giving the daily budget its unit back when nothing went out."""
    try:
        return send(sender, outgoing, limiter=limiter, sleep=sleep)
    except (TemporaryFailure, PermanentFailure):  # ChannelUnavailable is a PermanentFailure
        if budget is not None:
            budget.give_back(outgoing.channel, now)
        raise


def prepare(
    settings: Settings,
    *,
    message_id: str,
    contact_id: str,
    channel: str,
    address: str,
    content: Mapping[str, Any],
    funnel: str | None = None,
    step_id: str | None = None,
    window_until: datetime | None = None,
    now: datetime | None = None,
) -> OutgoingMessage:
    """The message as it leaves: HTML sanitized, links to allowed hosts rewritten through /r/
    (tokens valid for the link TTL), an unsubscribe URL for email (List-Unsubscribe + the
    visible link), Twilio's status callback for SMS and WhatsApp."""
    signed = bool(settings.signing_secret and settings.public_url)
    unsubscribe = (
        unsubscribe_url(settings, message_id, contact_id, channel)
        if channel == "email" and signed
        else None
    )
    if signed and channel != ONSITE:  # the snippet reports on-site clicks itself
        sent_at = now or datetime.now(UTC)
        content = rewrite_links(
            content,
            public_url=settings.public_url,
            secret=settings.signing_secret,
            message_id=message_id,
            expires_at=int((sent_at + timedelta(days=settings.link_ttl_days)).timestamp()),
            allowed_hosts=settings.allowed_link_hosts,
            keep=[unsubscribe] if unsubscribe else (),
        )
    elif isinstance(content.get("html"), str):
        content = {**content, "html": sanitize_html(content["html"])}
    callback = (
        twilio_status_callback_url(settings, message_id)
        if channel in PHONE_CHANNELS and settings.public_url
        else None
    )
    return OutgoingMessage(
        message_id=message_id,
        channel=channel,
        address=address,
        content=content,
        contact_id=contact_id,
        funnel=funnel,
        step_id=step_id,
        unsubscribe_url=unsubscribe,
        status_callback_url=callback,
        window_until=window_until,
    )


def send(
    sender: Channel,
    outgoing: OutgoingMessage,
    *,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """`sender.send` under the channel's rate limit, retrying 429/5xx/timeouts a bounded number
    of times. Raises TemporaryFailure (try later: `retry_at`), ChannelUnavailable (try the next
    channel) or PermanentFailure (`address_unreachable`: see `identities.mark_unreachable`)."""
    text = str(outgoing.content.get("text") or outgoing.content.get("body") or "")
    amount = float(sms_segments(text)) if outgoing.channel == "sms" else 1.0

    def attempt() -> SendResult:
        if limiter is not None:
            limiter.acquire(outgoing.channel, outgoing.address, amount)
        return sender.send(outgoing)

    return with_retries(attempt, sleep=sleep)
