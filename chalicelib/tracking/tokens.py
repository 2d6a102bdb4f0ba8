"""Signed, compact, url-safe tokens for click redirects (`/r/…`), unsubscribes (`/u/…`) and
messenger deep links (`t.me/<bot>?start=…`).

A token is `base64url(json payload) "." base64url(HMAC-SHA256(secret, kind + payload)[:16])`.
The kind is inside the MAC so a click token can never be replayed as an unsubscribe token.
Click tokens carry their expiry (AUTOFUNNEL_LINK_TTL_DAYS after the send): an old message
forwarded around, or a token fished out of one, stops redirecting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import struct
import uuid
from dataclasses import dataclass

_MAC_BYTES = 16  # 128 bits: unforgeable, and keeps SMS links short


class TokenError(ValueError):
    """The token is malformed, forged, or signed with another secret."""


class TokenExpired(TokenError):
    """A genuine token past its expiry."""


@dataclass(frozen=True)
class ClickToken:
    message_id: str
    url: str
    expires_at: int  # unix seconds


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


def click_token(secret: str, message_id: str, url: str, expires_at: int) -> str:
    return _sign(secret, "click", [message_id, url, str(expires_at)])


def read_click_token(secret: str, token: str, now: float) -> ClickToken:
    """The verified target; TokenExpired once `now` (unix seconds) is past its expiry."""
    message_id, url, expires = _verify(secret, "click", token, 3)
    if not url.startswith(("http://", "https://")) or not expires.isdigit():
        raise TokenError("not an http(s) target")
    if int(expires) < now:
        raise TokenExpired("expired")
    return ClickToken(message_id, url, int(expires))


def unsubscribe_token(secret: str, message_id: str, contact_id: str, channel: str) -> str:
    return _sign(secret, "unsubscribe", [message_id, contact_id, channel])


def read_unsubscribe_token(secret: str, token: str) -> UnsubscribeToken:
    message_id, contact_id, channel = _verify(secret, "unsubscribe", token, 3)
    return UnsubscribeToken(message_id, contact_id, channel)


# --- deep links: a site visitor -> a messenger chat -----------------------------------------
# Telegram's /start parameter allows 64 characters of [A-Za-z0-9_-] (no "."), so a deep-link
# token is one base64url blob: flag byte, expiry (uint32 seconds), the anonymous id (16 bytes
# when it is a UUID, as the snippet's are, else its UTF-8), then a 12-byte MAC over all of it.

DEEPLINK_MAX = 64
_DEEPLINK_MAC = 12
_UUID_ID, _TEXT_ID = 1, 2
MAX_DEEPLINK_ID_BYTES = DEEPLINK_MAX * 3 // 4 - 1 - 4 - _DEEPLINK_MAC  # 31


@dataclass(frozen=True)
class DeepLink:
    anonymous_id: str
    expires_at: int  # unix seconds
    token_id: str  # identifies this token (its MAC), for one-chat-per-token bookkeeping


def _pack_id(anonymous_id: str) -> tuple[int, bytes]:
    try:
        parsed = uuid.UUID(anonymous_id)
        if str(parsed) == anonymous_id.lower():
            return _UUID_ID, parsed.bytes
    except ValueError:
        pass
    return _TEXT_ID, anonymous_id.encode()


def deeplink_token(secret: str, anonymous_id: str, expires_at: int) -> str:
    """A token for `?start=` (Telegram) or `?ref=` (m.me) that links the chat to the visitor."""
    flag, packed = _pack_id(anonymous_id)
    if not packed or len(packed) > MAX_DEEPLINK_ID_BYTES:
        raise TokenError(f"an anonymous id of 1-{MAX_DEEPLINK_ID_BYTES} bytes (or a UUID) fits")
    body = bytes([flag]) + struct.pack(">I", expires_at) + packed
    return _b64(body + _mac(secret, "deeplink", body)[:_DEEPLINK_MAC])


def read_deeplink_token(secret: str, token: str, now: float) -> DeepLink:
    if not token or len(token) > DEEPLINK_MAX:
        raise TokenError("malformed token")
    raw = _unb64(token)
    body, signature = raw[:-_DEEPLINK_MAC], raw[-_DEEPLINK_MAC:]
    if len(body) < 6:
        raise TokenError("malformed token")
    if not hmac.compare_digest(signature, _mac(secret, "deeplink", body)[:_DEEPLINK_MAC]):
        raise TokenError("bad signature")
    flag, (expires_at,), packed = body[0], struct.unpack(">I", body[1:5]), body[5:]
    if expires_at < now:
        raise TokenError("expired")
    if flag == _UUID_ID and len(packed) == 16:
        anonymous_id = str(uuid.UUID(bytes=packed))
    elif flag == _TEXT_ID:
        try:
            anonymous_id = packed.decode()
        except UnicodeDecodeError as error:
            raise TokenError("malformed payload") from error
    else:
        raise TokenError("malformed payload")
    return DeepLink(anonymous_id, expires_at, signature.hex())
