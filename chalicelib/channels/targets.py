"""Where an outbound webhook may go: https only, and never into the deployment's own network.

A funnel's webhook URL is written by a marketer, and its interpolated parts come from contact
and event data, so it must not be a way to reach the Lambda's neighbours (the instance metadata
endpoint, a VPC service, localhost). On AWS the host is resolved once here, every address it
resolves to must be public, and the connection then goes to that very address (`http.post`'s
`connect_to`), so a DNS answer that changes between the check and the connection changes
nothing. Locally (DynamoDB Local), plain http and private addresses are allowed: the receiver
is usually on the same machine.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from chalicelib.channels.base import PermanentFailure

Resolve = Callable[..., list[tuple[Any, ...]]]


class UnsafeTarget(PermanentFailure):
    """The URL may not be called; the message says why (never retried)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, address_unreachable=False, code="unsafe_url")


def check(url: str, local: bool, resolve: Resolve = socket.getaddrinfo) -> str | None:
    """The public address to connect to; None locally (connect as the URL says)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as error:
        raise UnsafeTarget(f"not a URL: {error}") from error
    scheme = parts.scheme.lower()
    if not host or scheme not in ("https", "http"):
        raise UnsafeTarget("a webhook URL must be https://host/...")
    if local:
        return None
    if scheme != "https":
        raise UnsafeTarget("a webhook URL must be https (plain http only on a local stack)")
    try:
        answers = resolve(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise UnsafeTarget(f"{host} does not resolve: {error}") from error
    addresses = [str(answer[4][0]) for answer in answers]
    if not addresses:
        raise UnsafeTarget(f"{host} does not resolve")
    for address in addresses:
        if not is_public(address):
            raise UnsafeTarget(f"{host} resolves to {address}, which is not a public address")
    return addresses[0]


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:169.254.169.254 is the metadata endpoint too
    return ip.is_global and not ip.is_multicast
