"""Our own public URLs carried in messages: unsubscribe links and provider status callbacks."""

from __future__ import annotations

from urllib.parse import urlencode

from chalicelib.config import Settings
from chalicelib.tracking.tokens import unsubscribe_token


def unsubscribe_url(settings: Settings, message_id: str, contact_id: str, channel: str) -> str:
    token = unsubscribe_token(settings.signing_secret, message_id, contact_id, channel)
    return f"{settings.public_url}/u/{token}"


def twilio_status_callback_url(settings: Settings, message_id: str | None = None) -> str:
    """Carries our message id, so a callback that beats the provider-id write still finds it."""
    base = f"{settings.public_url}/webhooks/twilio/status"
    return f"{base}?{urlencode({'m': message_id})}" if message_id else base
