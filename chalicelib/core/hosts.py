"""Which hosts a tracked link may lead to (pure: shared by link tracking and the validator)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


def host_allowed(url: str, hosts: Iterable[str]) -> bool:
    """True for an http(s) URL whose host is on `hosts`: an exact host, or `*.example.com` for
    its subdomains."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:  # "http://[" and friends
        return False
    if parts.scheme.lower() not in ("http", "https") or not host:
        return False
    for allowed in hosts:
        allowed = allowed.lower().rstrip(".")
        if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
            return True
    return False
