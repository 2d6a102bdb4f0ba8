"""The links templates promise besides unsubscribe: `links.preferences` (a page where the person
switches each channel and topic on or off) and `links.view_online` (the message in a browser).
Both are signed like the unsubscribe link, with a kind of their own inside the MAC, so one can
never be replayed as another."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.config import Settings
from chalicelib.tracking.tokens import TokenError, _sign, _verify

__all__ = [
    "PreferencesToken",
    "TokenError",
    "preferences_url",
    "read_preferences_token",
    "read_view_token",
    "view_url",
]


@dataclass(frozen=True)
class PreferencesToken:
    contact_id: str
    message_id: str  # the message the link came in (the page's changes name it)


def preferences_url(settings: Settings, message_id: str, contact_id: str) -> str:
    token = _sign(settings.signing_secret, "preferences", [message_id, contact_id])
    return f"{settings.public_url}/p/{token}"


def read_preferences_token(secret: str, token: str) -> PreferencesToken:
    message_id, contact_id = _verify(secret, "preferences", token, 2)
    return PreferencesToken(contact_id, message_id)


def view_url(settings: Settings, message_id: str) -> str:
    return f"{settings.public_url}/v/{_sign(settings.signing_secret, 'view', [message_id])}"


def read_view_token(secret: str, token: str) -> str:
    (message_id,) = _verify(secret, "view", token, 1)
    return message_id
