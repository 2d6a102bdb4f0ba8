"""Rewrite the links of a message's content to `{public_url}/r/{token}` so clicks are known in
every channel (email, SMS, messengers). The unsubscribe link and our own links stay.

Only links to allowed hosts are tracked (the site's host and AUTOFUNNEL_LINK_HOSTS): a signed
redirect through the shop's own domain would lend a stranger's URL (say, a `cart_url` sent with
the public write key) the shop's name. Other links are left as they are, untracked. Rendered
HTML also loses every link whose scheme could run code (`javascript:`, `data:`, ...).
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Mapping
from typing import Any

from chalicelib.core.hosts import host_allowed
from chalicelib.tracking.tokens import click_token

__all__ = ["host_allowed", "rewrite_links", "sanitize_html", "tracked_url"]

_HREF = re.compile(r"""(\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_URL = re.compile(r"""https?://[^\s<>"'`]+""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""  # punctuation that ends a sentence, not the URL
_TEXT_KEYS = ("text", "body", "caption")
_BUTTON_KEYS = ("buttons", "quick_replies")


# Schemes a link in an email may keep; every other explicit scheme is removed from the HTML.
SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel", "sms"})
_URL_ATTRIBUTE = re.compile(
    r"""([\s/"'])(href|src|action|formaction|xlink:href|background|poster|cite|srcset)"""
    r"""(\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)""",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


def tracked_url(public_url: str, secret: str, message_id: str, url: str, expires_at: int) -> str:
    return f"{public_url.rstrip('/')}/r/{click_token(secret, message_id, url, expires_at)}"


def sanitize_html(markup: str) -> str:
    """Remove URL attributes whose scheme is not in SAFE_SCHEMES (`javascript:`, `data:`,
    `vbscript:`...), however it is disguised with entities, case or whitespace."""

    def check(match: re.Match[str]) -> str:
        raw = match.group(4)
        value = raw[1:-1] if raw[:1] in "\"'" else raw
        plain = _INVISIBLE.sub("", html.unescape(value)).lower()
        scheme = _SCHEME.match(plain)
        if scheme is None or scheme.group(1) in SAFE_SCHEMES:
            return match.group(0)
        return match.group(1)  # the attribute goes; the element stays

    return _URL_ATTRIBUTE.sub(check, markup)


class LinkRewriter:
    def __init__(
        self,
        public_url: str,
        secret: str,
        message_id: str,
        keep: Collection[str] = (),
        *,
        allowed_hosts: Collection[str] = (),
        expires_at: int,
    ) -> None:
        self.public_url = public_url.rstrip("/")
        self.secret = secret
        self.message_id = message_id
        self.keep = {url for url in keep if url}
        self.allowed_hosts = tuple(allowed_hosts)
        self.expires_at = expires_at

    def _track(self, url: str) -> str:
        if url in self.keep or not url.lower().startswith(("http://", "https://")):
            return url
        if url.startswith(self.public_url + "/"):  # already ours (tracked, unsubscribe)
            return url
        if not host_allowed(url, self.allowed_hosts):
            return url  # not ours to vouch for: left as it is, untracked
        return tracked_url(self.public_url, self.secret, self.message_id, url, self.expires_at)

    def html(self, markup: str) -> str:
        def replace(match: re.Match[str]) -> str:
            prefix, quote, raw = match.groups()
            target = html.unescape(raw.strip())
            tracked = self._track(target)
            if tracked == target:
                return match.group(0)
            return f"{prefix}{quote}{html.escape(tracked, quote=True)}{quote}"

        return _HREF.sub(replace, markup)

    def text(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            url = match.group(0)
            stripped = url.rstrip(_TRAILING)
            return self._track(stripped) + url[len(stripped) :]

        return _URL.sub(replace, text)

    def content(self, content: Mapping[str, Any]) -> dict[str, Any]:
        rewritten = dict(content)
        if isinstance(content.get("html"), str):
            rewritten["html"] = self.html(sanitize_html(content["html"]))
        for key in _TEXT_KEYS:
            if isinstance(content.get(key), str):
                rewritten[key] = self.text(content[key])
        for key in _BUTTON_KEYS:
            buttons = content.get(key)
            if isinstance(buttons, list):
                rewritten[key] = [self._button(button) for button in buttons]
        return rewritten

    def _button(self, button: Any) -> Any:
        if isinstance(button, Mapping) and isinstance(button.get("url"), str):
            return {**button, "url": self._track(button["url"])}
        return button


def rewrite_links(
    content: Mapping[str, Any],
    *,
    public_url: str,
    secret: str,
    message_id: str,
    expires_at: int,
    allowed_hosts: Collection[str] = (),
    keep: Collection[str] = (),
) -> dict[str, Any]:
    """A copy of `content` whose html hrefs, plain-text URLs and button URLs to `allowed_hosts`
    go through `/r/` (tokens valid until `expires_at`, unix seconds). URLs in `keep` (the
    unsubscribe link), links already on `public_url` and links to other hosts are left alone;
    media URLs are never touched (providers fetch them directly). The HTML is sanitized."""
    rewriter = LinkRewriter(
        public_url,
        secret,
        message_id,
        keep,
        allowed_hosts=allowed_hosts,
        expires_at=expires_at,
    )
    return rewriter.content(content)
