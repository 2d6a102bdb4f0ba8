"""Per-source webhook secrets, read from `settings.providers` (SHOPIFY_*, WOOCOMMERCE_*, SHOP_*,
TELEGRAM_*, META_* environment variables). An empty string means "not configured": the route
then rejects everything (fail closed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from chalicelib.config import Settings

SHOPIFY_SECRET = "SHOPIFY_WEBHOOK_SECRET"  # the app's client secret (Shopify signs with it)
WOOCOMMERCE_SECRET = "WOOCOMMERCE_WEBHOOK_SECRET"  # the secret typed into the WooCommerce webhook
TELEGRAM_SECRET = "TELEGRAM_WEBHOOK_SECRET"  # optional: else derived from the signing secret
TELEGRAM_USERNAME = "TELEGRAM_BOT_USERNAME"  # for t.me deep links
META_APP_SECRET = "META_APP_SECRET"  # signs X-Hub-Signature-256
META_VERIFY_TOKEN = "META_VERIFY_TOKEN"  # echoed in the subscription handshake
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _get(settings: Settings, name: str) -> str:
    return (settings.providers.get(name) or "").strip()


def shopify(settings: Settings) -> str:
    return _get(settings, SHOPIFY_SECRET)


def woocommerce(settings: Settings) -> str:
    return _get(settings, WOOCOMMERCE_SECRET)


def shop_setting(source: str) -> str:
    """SHOP_TILDA_SECRET for /webhooks/shop/tilda (hyphens become underscores)."""
    return f"SHOP_{source.upper().replace('-', '_')}_SECRET"


def shop(settings: Settings, source: str) -> str:
    return _get(settings, shop_setting(source)) if SOURCE_NAME.match(source) else ""


def derived_telegram_secret(signing_secret: str, bot: str) -> str:
    """The secret_token `autofunnel telegram set-webhook` registers for `bot`: derived from the
    signing secret, so nothing new has to be copied into the stage's environment. 43 characters
    of [A-Za-z0-9_-], as setWebhook requires."""
    digest = hmac.new(
        signing_secret.encode(), f"telegram-webhook:{bot.lower()}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def telegram(settings: Settings, bot: str) -> str:
    explicit = _get(settings, TELEGRAM_SECRET)
    if explicit:
        return explicit
    return derived_telegram_secret(settings.signing_secret, bot) if settings.signing_secret else ""


def telegram_username(settings: Settings) -> str:
    return _get(settings, TELEGRAM_USERNAME).lstrip("@")


def meta_app_secret(settings: Settings) -> str:
    return _get(settings, META_APP_SECRET)


def meta_verify_token(settings: Settings) -> str:
    return _get(settings, META_VERIFY_TOKEN)
