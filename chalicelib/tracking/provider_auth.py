"""Verifying provider webhooks the way each provider documents, failing closed.

Not configured -> WebhookNotConfigured (the route answers 503 and stores nothing; providers retry,
so nothing is lost once the key is set). Bad, missing or stale signature -> BadSignature (403).
"""

from __future__ import annotations

import binascii
import time
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode

SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
SENDGRID_TOLERANCE = 600  # seconds: SendGrid signs each (re)delivery when it sends it
TWILIO_SIGNATURE = "X-Twilio-Signature"


class WebhookNotConfigured(Exception):
    pass


class BadSignature(Exception):
    pass


def _header(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name) or headers.get(name.lower()) or ""


def verify_sendgrid(
    public_key: str, raw_body: str, headers: Mapping[str, str], now: float | None = None
) -> None:
    """ECDSA P-256 over timestamp + raw body, checked with the SDK's EventWebhook helper."""
    if not public_key:
        raise WebhookNotConfigured("SENDGRID_WEBHOOK_PUBLIC_KEY is not set")
    from sendgrid.helpers.eventwebhook import EventWebhook

    try:
        verifier = EventWebhook(public_key)
    except (ValueError, TypeError) as error:
        raise WebhookNotConfigured("SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid key") from error
    signature = _header(headers, SENDGRID_SIGNATURE)
    timestamp = _header(headers, SENDGRID_TIMESTAMP)
    if not signature or not timestamp:
        raise BadSignature("missing signature headers")
    try:
        signed_at = int(timestamp)
    except ValueError as error:
        raise BadSignature("bad timestamp") from error
    if abs((time.time() if now is None else now) - signed_at) > SENDGRID_TOLERANCE:
        raise BadSignature("stale timestamp")
    try:
        valid = verifier.verify_signature(raw_body, signature, timestamp)
    except (binascii.Error, ValueError, TypeError) as error:  # non-base64 signature raises
        raise BadSignature("malformed signature") from error
    if not valid:
        raise BadSignature("signature does not match")


class FormParams(dict[str, str]):
    """Form fields with repeats kept (`getall`, which the SDK's validator uses)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self.pairs = list(pairs)

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


def parse_form(raw_body: bytes | str) -> FormParams:
    text = raw_body.decode("utf-8") if isinstance(raw_body, bytes) else raw_body
    return FormParams(parse_qsl(text, keep_blank_values=True))


def request_urls(
    headers: Mapping[str, str],
    context: Mapping[str, object],
    query: Mapping[str, str] | None,
    public_url: str,
    route_path: str,
) -> list[str]:
    """The URL Twilio called, rebuilt as API Gateway saw it: Host header + the request context's
    path (which carries the stage, e.g. /api/webhooks/...). AUTOFUNNEL_PUBLIC_URL + the route
    is accepted too (custom domains whose base path the context does not show)."""
    suffix = f"?{urlencode(query)}" if query else ""
    urls = []
    host = _header(headers, "Host")
    path = str(context.get("path") or route_path)
    if host:
        proto = (_header(headers, "X-Forwarded-Proto") or "https").split(",")[0].strip()
        urls.append(f"{proto}://{host}{path}{suffix}")
    if public_url:
        urls.append(f"{public_url.rstrip('/')}{route_path}{suffix}")
    return list(dict.fromkeys(urls))


def verify_twilio(
    auth_token: str, urls: Sequence[str], params: FormParams, headers: Mapping[str, str]
) -> None:
    """X-Twilio-Signature (HMAC-SHA1 of URL + sorted params) with the SDK's RequestValidator."""
    if not auth_token:
        raise WebhookNotConfigured("TWILIO_AUTH_TOKEN is not set")
    signature = _header(headers, TWILIO_SIGNATURE)
    if not signature:
        raise BadSignature("missing X-Twilio-Signature")
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(auth_token)
    if not any(validator.validate(url, params, signature) for url in urls):
        raise BadSignature("signature does not match")
