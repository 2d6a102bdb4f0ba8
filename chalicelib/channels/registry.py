"""Which sender serves each channel, from the provider credentials in settings.

A channel whose credentials are not all set is served by the outbox (nothing leaves the machine),
so a laptop without keys runs every funnel end to end. Building senders imports no SDK.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.channels.base import Channel
from chalicelib.channels.messenger import GRAPH_API, GRAPH_VERSION, MetaMessenger
from chalicelib.channels.onsite import ONSITE, OnsiteChannel
from chalicelib.channels.outbox import OutboxChannel
from chalicelib.channels.sendgrid_email import SENDGRID_HOST, SendGridEmail
from chalicelib.channels.telegram import TELEGRAM_API, TelegramBot
from chalicelib.channels.twilio_sms import TwilioMessaging
from chalicelib.channels.webhook import WebhookChannel
from chalicelib.config import Settings

CHANNELS = ("email", "sms", "whatsapp", "telegram", "messenger", "instagram", "webhook", "onsite")


def build_channels(settings: Settings) -> dict[str, Channel]:
    p: Mapping[str, str] = {key: value.strip() for key, value in settings.providers.items()}
    outbox = OutboxChannel()
    channels: dict[str, Channel] = dict.fromkeys(CHANNELS, outbox)
    channels[ONSITE] = OnsiteChannel()  # shown by the snippet: nothing to configure

    if p.get("SENDGRID_API_KEY") and p.get("SENDGRID_FROM_EMAIL"):
        channels["email"] = SendGridEmail(
            api_key=p["SENDGRID_API_KEY"],
            from_email=p["SENDGRID_FROM_EMAIL"],
            from_name=p.get("SENDGRID_FROM_NAME") or None,
            reply_to=p.get("SENDGRID_REPLY_TO") or None,
            host=p.get("SENDGRID_API_HOST") or SENDGRID_HOST,
        )

    sid, token = p.get("TWILIO_ACCOUNT_SID"), p.get("TWILIO_AUTH_TOKEN")
    service = p.get("TWILIO_MESSAGING_SERVICE_SID") or None
    base = p.get("TWILIO_API_BASE_URL") or None
    if sid and token:
        for name, sender in (
            ("sms", p.get("TWILIO_FROM_NUMBER")),
            ("whatsapp", p.get("TWILIO_WHATSAPP_FROM")),
        ):
            if service or sender:
                channels[name] = TwilioMessaging(name, sid, token, service, sender or None, base)

    if p.get("TELEGRAM_BOT_TOKEN"):
        channels["telegram"] = TelegramBot(
            p["TELEGRAM_BOT_TOKEN"], p.get("TELEGRAM_API_BASE_URL") or TELEGRAM_API
        )

    graph = p.get("META_GRAPH_API_URL") or GRAPH_API
    version = p.get("META_GRAPH_API_VERSION") or GRAPH_VERSION
    page_token = p.get("META_PAGE_ACCESS_TOKEN")
    if page_token:
        channels["messenger"] = MetaMessenger("messenger", page_token, graph, version)
    instagram_token = p.get("META_INSTAGRAM_ACCESS_TOKEN") or page_token
    if instagram_token:
        channels["instagram"] = MetaMessenger("instagram", instagram_token, graph, version)

    if settings.signing_secret:
        channels["webhook"] = WebhookChannel(settings.signing_secret, local=settings.is_local)
    return channels


_cache: tuple[Settings, dict[str, Channel]] | None = None


def channels_for(settings: Settings) -> dict[str, Channel]:
    """build_channels, once per settings object (one Lambda container keeps its SDK clients)."""
    global _cache
    if _cache is None or _cache[0] is not settings:
        _cache = (settings, build_channels(settings))
    return _cache[1]
