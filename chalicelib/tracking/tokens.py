"""Signed, compact, url-safe tokens for click redirects (`/r/…`) and unsubscribes (`/u/…`).

A token is `base64url(json payload) "." base64url(HMAC-SHA256(secret, kind + payload)[:16])`.
The kind is inside the MAC so a click token can never be replayed as an unsubscribe token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

_MAC_BYTES = 16  # 128 bits: unforgeable, and keeps SMS links short


class TokenError(ValueError):
    """The token is malformed, forged, or signed with another secret."""


@dataclass(frozen=True)
class ClickToken:
    message_id: str
    url: str


@dataclass(frozen=True)
class UnsubscribeToken:
    message_id: str
    contact_id: str
    channel: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise TokenError("not base64url") from error


def _mac(secret: str, kind: str, payload: bytes) -> bytes:
    if not secret:
        raise TokenError("AUTOFUNNEL_SIGNING_SECRET is not set: tokens cannot be signed")
    return hmac.new(secret.encode(), kind.encode() + b"." + payload, hashlib.sha256).digest()[
        :_MAC_BYTES
    ]


def _sign(secret: str, kind: str, fields: list[str]) -> str:
    payload = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, kind, payload))}"


def _verify(secret: str, kind: str, token: str, arity: int) -> list[str]:
    encoded, dot, signature = token.partition(".")
    if not dot or not encoded or not signature:
        raise TokenError("malformed token")
    payload = _unb64(encoded)
    if not hmac.compare_digest(_unb64(signature), _mac(secret, kind, payload)):
        raise TokenError("bad signature")
    try:
        fields = json.loads(payload)
    except ValueError as error:
        raise TokenError("malformed payload") from error
    if not isinstance(fields, list) or len(fields) != arity:
        raise TokenError("malformed payload")
    if not all(isinstance(field, str) for field in fields):
        raise TokenError("malformed payload")
    return fields


def click_token(secret: str, message_id: str, url: str) -> str:
    return _sign(secret, "click", [message_id, url])


def read_click_token(secret: str, token: str) -> ClickToken:
    message_id, url = _verify(secret, "click", token, 2)
    if not url.startswith(("http://", "https://")):
        raise TokenError("not an http(s) target")
    return ClickToken(message_id, url)


def unsubscribe_token(secret: str, message_id: str, contact_id: str, channel: str) -> str:
    return _sign(secret, "unsubscribe", [message_id, contact_id, channel])


def read_unsubscribe_token(secret: str, token: str) -> UnsubscribeToken:
    message_id, contact_id, channel = _verify(secret, "unsubscribe", token, 3)
    return UnsubscribeToken(message_id, contact_id, channel)
