"""Signature checks shared by the shop and messenger webhooks, all constant-time.

A missing secret raises WebhookNotConfigured (the route answers 503 and stores nothing); a
missing or wrong signature raises BadSignature (401/403).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from chalicelib.tracking.provider_auth import BadSignature, WebhookNotConfigured

__all__ = [
    "BadSignature",
    "WebhookNotConfigured",
    "hmac_sha256",
    "verify_base64_hmac",
    "verify_hex_hmac",
    "verify_secret",
]


def hmac_sha256(secret: str, raw: bytes) -> bytes:
    return hmac.new(secret.encode(), raw, hashlib.sha256).digest()


def _require(secret: str, setting: str) -> None:
    if not secret:
        raise WebhookNotConfigured(f"{setting} is not set")


def verify_base64_hmac(secret: str, setting: str, raw: bytes, signature: str) -> None:
    """Shopify and WooCommerce: base64(HMAC-SHA256(secret, raw body))."""
    _require(secret, setting)
    if not signature:
        raise BadSignature("missing signature header")
    expected = base64.b64encode(hmac_sha256(secret, raw)).decode("ascii")
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise BadSignature("signature does not match")


def verify_hex_hmac(secret: str, setting: str, raw: bytes, signature: str) -> None:
    """Meta's X-Hub-Signature-256 and our generic shop header: "sha256=" + hex HMAC-SHA256."""
    _require(secret, setting)
    scheme, _, digest = signature.strip().partition("=")
    if scheme.lower() != "sha256" or not digest:
        raise BadSignature("expected a 'sha256=<hex>' signature header")
    expected = hmac_sha256(secret, raw).hex()
    if not hmac.compare_digest(expected.encode(), digest.lower().encode()):
        raise BadSignature("signature does not match")


def verify_secret(secret: str, setting: str, given: str) -> None:
    """A shared secret echoed in a header (Telegram) or a query parameter (Meta's handshake)."""
    _require(secret, setting)
    if not given or not hmac.compare_digest(secret.encode(), given.encode()):
        raise BadSignature("secret does not match")
