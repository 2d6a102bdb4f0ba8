"""The HTTP side of ingestion: the write key (Segment's Basic auth or `writeKey` in the body),
the body (JSON, optionally gzip-compressed as RudderStack's client sends it) and its size limits."""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.api.errors import ApiError
from chalicelib.config import Settings, WriteKey
from chalicelib.ingest import limits

GZIP_MAGIC = b"\x1f\x8b"


# A batch body holds calls (two levels) whose traits nest up to MAX_NESTING levels.
MAX_BODY_NESTING = limits.MAX_NESTING + 3


def decode_body(raw: bytes, headers: Mapping[str, str], limit: int) -> dict[str, Any]:
    """The JSON object in the body; 413 past `limit` bytes (after decompression), 400 otherwise."""
    if raw[:2] == GZIP_MAGIC:
        # API Gateway may already have inflated it (minimum_compression_size); chalice local won't.
        raw = _gunzip(raw, limit)
    if len(raw) > limit:
        raise ApiError(
            413,
            f"the request body is {len(raw)} bytes; the limit here is {limit // 1024} KB",
            limit="batch_bytes" if limit == limits.MAX_BATCH_BYTES else "call_bytes",
            limit_bytes=limit,
        )
    if not raw.strip():
        raise ApiError(400, "the request body is empty: send a JSON object", field="body")
    try:
        body = limits.loads(raw, MAX_BODY_NESTING)
    except limits.LimitExceeded as error:
        raise limit_error(error) from error
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(400, f"the body is not valid JSON: {error}", field="body") from error
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", field="body")
    return body


def _gunzip(raw: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        # Inflate at most limit+1 bytes: a small gzip bomb cannot cost memory.
        data = inflater.decompress(raw, limit + 1)
    except zlib.error as error:
        raise ApiError(400, f"the gzip body is corrupt: {error}", field="body") from error
    return data


def limit_error(error: limits.LimitExceeded) -> ApiError:
    """A breached limit as HTTP: its status, and `limit` naming it."""
    return ApiError(
        error.limit.status,
        error.message,
        field=error.field,
        limit=error.limit.name,
        max=error.limit.value,
    )


@dataclass(frozen=True)
class IngestKey:
    """The key a tracking call came with: a site's public write key, or a secret server key."""

    key: str
    write_key: WriteKey | None  # None: a server key, which no browser origin may use

    @property
    def server(self) -> bool:
        return self.write_key is None


def ingest_key_of(
    headers: Mapping[str, str], body: Mapping[str, Any], settings: Settings
) -> IngestKey:
    """A write key or a server key (AUTOFUNNEL_SERVER_KEYS), sent the same way."""
    key = _given_key(headers, body)
    if settings.server_key(key):
        return IngestKey(key, None)
    return IngestKey(key, _known_write_key(key, settings))


def write_key_of(
    headers: Mapping[str, str], body: Mapping[str, Any], settings: Settings
) -> WriteKey:
    return _known_write_key(_given_key(headers, body), settings)


def _given_key(headers: Mapping[str, str], body: Mapping[str, Any]) -> str:
    """Segment sends the write key as the Basic auth user name; `writeKey` in the body also works
    (navigator.sendBeacon cannot set headers)."""
    key = _basic_user(headers.get("authorization") or "")
    if key is None and isinstance(body.get("writeKey"), str):
        key = body["writeKey"]
    if not key:
        raise ApiError(
            401,
            "missing write key: use HTTP Basic auth with the write key as user name, "
            "or put writeKey in the body",
        )
    return key


def _known_write_key(key: str, settings: Settings) -> WriteKey:
    write_key = settings.write_key(key)
    if write_key is None:
        raise ApiError(401, "unknown write key")
    return write_key


def _basic_user(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None
