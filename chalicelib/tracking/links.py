"""Rewrite every http(s) link in a message's content to `{public_url}/r/{token}` so clicks are
known in every channel (email, SMS, messengers). The unsubscribe link and our own links stay."""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Mapping
from typing import Any

from chalicelib.tracking.tokens import click_token

_HREF = re.compile(r"""(\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_URL = re.compile(r"""https?://[^\s<>"'`]+""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""  # punctuation that ends a sentence, not the URL
_TEXT_KEYS = ("text", "body", "caption")
_BUTTON_KEYS = ("buttons", "quick_replies")


def tracked_url(public_url: str, secret: str, message_id: str, url: str) -> str:
    return f"{public_url.rstrip('/')}/r/{click_token(secret, message_id, url)}"


class LinkRewriter:
    def __init__(
        self, public_url: str, secret: str, message_id: str, keep: Collection[str] = ()
    ) -> None:
        self.public_url = public_url.rstrip("/")
        self.secret = secret
        self.message_id = message_id
        self.keep = {url for url in keep if url}

    def _track(self, url: str) -> str:
        if url in self.keep or not url.lower().startswith(("http://", "https://")):
            return url
        if url.startswith(self.public_url + "/"):  # already ours (tracked, unsubscribe)
            return url
        return tracked_url(self.public_url, self.secret, self.message_id, url)

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
            rewritten["html"] = self.html(content["html"])
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
    keep: Collection[str] = (),
) -> dict[str, Any]:
    """A copy of `content` whose html hrefs, plain-text URLs and button URLs go through `/r/`.
    URLs in `keep` (the unsubscribe link) and links already on `public_url` are left alone;
    media URLs are never touched (providers fetch them directly)."""
    return LinkRewriter(public_url, secret, message_id, keep).content(content)
