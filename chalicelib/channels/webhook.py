"""Outbound webhooks: POST the rendered JSON to the step's URL, signed per funnel.

`X-Autofunnel-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, where the
secret is derived per funnel from AUTOFUNNEL_SIGNING_SECRET (see `funnel_secret`), so a
receiver of one funnel cannot forge another's calls. Receivers should reject old timestamps.
The URL must be https and resolve to public addresses only (`targets`): a refused URL fails
the message for good, with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from chalicelib.channels import http, targets
from chalicelib.channels.base import OutgoingMessage, SendResult
from chalicelib.channels.retry import classify_http

SIGNATURE_HEADER = "X-Autofunnel-Signature"


def funnel_secret(signing_secret: str, funnel: str) -> str:
    """The per-funnel webhook secret: hex HMAC-SHA256(signing secret, "webhook:<funnel>").
    Shell: printf 'webhook:%s' FUNNEL | openssl dgst -sha256 -hmac "$AUTOFUNNEL_SIGNING_SECRET"."""
    return hmac.new(
        signing_secret.encode(), f"webhook:{funnel}".encode(), hashlib.sha256
    ).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def render_body(content: Any) -> bytes:
    """The JSON document to POST: content["json"] (an object), else content["body"] (an object or
    JSON text), else the whole content minus the routing keys."""
    document = content.get("json", content.get("body"))
    if isinstance(document, str):
        json.loads(document)  # must be JSON: fail here, not at the receiver
        return document.encode()
    if document is None:
        document = {key: value for key, value in content.items() if key not in ("url",)}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookChannel:
    name = "webhook"

    def __init__(
        self,
        signing_secret: str,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        *,
        local: bool = False,
        resolve: targets.Resolve = socket.getaddrinfo,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.signing_secret = signing_secret
        self.timeout = timeout
        self.clock = clock
        self.local = local  # a local stack may call http and private addresses
        self.resolve = resolve
        self.context = context

    def send(self, message: OutgoingMessage) -> SendResult:
        address = targets.check(message.address, self.local, self.resolve)
        body = render_body(message.content)
        secret = funnel_secret(self.signing_secret, message.funnel or "")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "autofunnel-webhook",
            SIGNATURE_HEADER: signature(secret, int(self.clock()), body),
            "X-Autofunnel-Message-Id": message.message_id,
            "Idempotency-Key": message.message_id,  # receivers dedupe our retries on it
        }
        response = http.post(
            message.address,
            body,
            headers,
            timeout=self.timeout,
            connect_to=address,
            context=self.context,
        )
        if not 200 <= response.status < 300:
            raise classify_http(
                response.status, response.headers, response.body.decode("utf-8", "replace")
            )
        return SendResult(
            provider_id=f"webhook-{message.message_id}", details={"status_code": response.status}
        )
