"""Signed tokens and link rewriting: what a person clicking our links depends on."""

from __future__ import annotations

import pytest

from chalicelib.tracking.links import host_allowed, rewrite_links, sanitize_html
from chalicelib.tracking.tokens import (
    TokenError,
    TokenExpired,
    read_unsubscribe_token,
    unsubscribe_token,
)
from chalicelib.tracking.tokens import click_token as signed_click
from chalicelib.tracking.tokens import read_click_token as read_signed_click

SECRET = "s3cret"
PUBLIC = "https://af.example.test"
NOW = 1_800_000_000
EXPIRES = NOW + 90 * 86400
HOSTS = ("shop.example",)


def click_token(secret: str, message_id: str, url: str) -> str:
    return signed_click(secret, message_id, url, EXPIRES)


def read_click_token(secret: str, token: str):  # type: ignore[no-untyped-def]
    return read_signed_click(secret, token, NOW)


def test_click_token_round_trips_and_is_url_safe() -> None:
    token = click_token(SECRET, "msg-1", "https://shop.example/p?a=1&b=ü")
    assert all(c.isalnum() or c in "-_." for c in token)
    assert read_click_token(SECRET, token).url == "https://shop.example/p?a=1&b=ü"
    assert read_click_token(SECRET, token).message_id == "msg-1"


def test_a_click_token_expires() -> None:
    token = click_token(SECRET, "msg-1", "https://shop.example/")
    assert read_signed_click(SECRET, token, EXPIRES).expires_at == EXPIRES
    with pytest.raises(TokenExpired):
        read_signed_click(SECRET, token, EXPIRES + 1)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: "x" + t,  # payload changed
        lambda t: t.split(".")[0],  # signature missing
        lambda t: "",
        lambda t: "!!!.???",
    ],
)
def test_tampered_click_tokens_are_rejected(mangle) -> None:
    token = click_token(SECRET, "msg-1", "https://shop.example/")
    with pytest.raises(TokenError):
        read_click_token(SECRET, mangle(token))


def test_tokens_from_another_secret_or_kind_are_rejected() -> None:
    token = click_token(SECRET, "msg-1", "https://shop.example/")
    with pytest.raises(TokenError):
        read_click_token("other-secret", token)
    unsubscribe = unsubscribe_token(SECRET, "msg-1", "contact-1", "email")
    with pytest.raises(TokenError):
        read_click_token(SECRET, unsubscribe)
    with pytest.raises(TokenError):
        read_unsubscribe_token(SECRET, token)
    with pytest.raises(TokenError):  # no secret configured: nothing verifies
        read_click_token("", token)


def test_a_signed_token_cannot_carry_a_non_http_target() -> None:
    with pytest.raises(TokenError):
        read_click_token(SECRET, click_token(SECRET, "m", "javascript:alert(1)"))


def test_rewrites_html_hrefs_plain_urls_and_buttons_but_not_unsubscribe_or_media() -> None:
    unsubscribe = f"{PUBLIC}/u/tok"
    content = {
        "subject": "See https://shop.example/in-subject",
        "html": (
            '<a href="https://shop.example/a?x=1&amp;y=2">A</a> '
            f"<a href='{unsubscribe}'>Unsubscribe</a> <a href=\"mailto:x@y.z\">mail</a>"
        ),
        "text": "Buy now: https://shop.example/b. Or (https://shop.example/c)",
        "buttons": [
            {"text": "Open", "url": "http://shop.example/d"},
            {"text": "cb", "callback_data": "1"},
        ],
        "media_urls": ["https://cdn.example/img.png"],
    }
    out = rewrite_links(
        content,
        public_url=PUBLIC,
        secret=SECRET,
        message_id="m1",
        expires_at=EXPIRES,
        allowed_hosts=HOSTS,
        keep=[unsubscribe],
    )

    def target(tracked: str) -> str:
        assert tracked.startswith(f"{PUBLIC}/r/")
        return read_click_token(SECRET, tracked.removeprefix(f"{PUBLIC}/r/")).url

    import re

    hrefs = re.findall(r"""href=["']([^"']+)["']""", out["html"])
    assert target(hrefs[0].replace("&amp;", "&")) == "https://shop.example/a?x=1&y=2"
    assert hrefs[1] == unsubscribe and hrefs[2] == "mailto:x@y.z"
    urls = re.findall(r"https://af\.example\.test/r/[\w-]+\.[\w-]+", out["text"])
    assert [target(u) for u in urls] == ["https://shop.example/b", "https://shop.example/c"]
    assert out["text"].startswith("Buy now: https://af.example.test/r/") and out["text"].endswith(
        ")"
    )
    assert target(out["buttons"][0]["url"]) == "http://shop.example/d"
    assert out["buttons"][1] == {"text": "cb", "callback_data": "1"}
    assert out["media_urls"] == content["media_urls"]
    assert out["subject"] == content["subject"]
    # Idempotent: links already on our domain are not wrapped twice.
    again = rewrite_links(
        out, public_url=PUBLIC, secret=SECRET, message_id="m1", expires_at=EXPIRES
    )
    assert again == out


def test_only_links_to_allowed_hosts_are_tracked() -> None:
    content = {
        "html": '<a href="https://evil.example/phish">Your cart</a>'
        '<a href="https://www.shop.example/x">W</a><a href="https://shop.example/ok">OK</a>',
        "text": "https://shop.example@evil.example/ and https://cdn.shop.example/a",
    }
    out = rewrite_links(
        content,
        public_url=PUBLIC,
        secret=SECRET,
        message_id="m1",
        expires_at=EXPIRES,
        allowed_hosts=("shop.example", "*.cdn.shop.example"),
    )
    assert 'href="https://evil.example/phish"' in out["html"]  # untracked: no shop redirect
    assert 'href="https://www.shop.example/x"' in out["html"]  # exact hosts only
    assert out["html"].count(f"{PUBLIC}/r/") == 1
    assert out["text"].startswith("https://shop.example@evil.example/ and ")  # userinfo trick
    assert out["text"].endswith("https://cdn.shop.example/a")  # "*." is for subdomains only
    # Nothing allowed (no site URL, no AUTOFUNNEL_LINK_HOSTS): nothing is tracked.
    bare = rewrite_links(content, public_url=PUBLIC, secret=SECRET, message_id="m1", expires_at=1)
    assert f"{PUBLIC}/r/" not in str(bare)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://shop.example/a", True),
        ("http://SHOP.example./a", True),
        ("https://a.b.cdn.example/x", True),
        ("https://cdn.example/x", False),
        ("https://shop.example.evil.test/", False),
        ("javascript://shop.example/%0aalert(1)", False),
        ("https://[broken", False),
        ("https:///nohost", False),
    ],
)
def test_host_allowed(url: str, allowed: bool) -> None:
    assert host_allowed(url, ("shop.example", "*.cdn.example")) is allowed


@pytest.mark.parametrize(
    "markup",
    [
        '<a href="javascript:alert(1)">x</a>',
        "<a href='JAVASCRIPT:alert(1)'>x</a>",
        '<a href="jav&#x61;script:alert(1)">x</a>',
        '<a href=" java\tscript:alert(1)">x</a>',
        "<a href=javascript:alert(1)>x</a>",
        '<a/href="javascript:alert(1)">x</a>',
        '<img src="data:text/html;base64,PHNjcmlwdD4=">',
        '<form action="vbscript:msgbox(1)"></form>',
    ],
)
def test_code_running_schemes_are_removed_from_html(markup: str) -> None:
    clean = sanitize_html(markup)
    assert "script:" not in clean.lower().replace("&#x61;", "a") and "data:" not in clean
    assert clean.startswith(("<a", "<img", "<form"))  # the element stays


def test_ordinary_links_survive_sanitizing() -> None:
    markup = (
        '<a href="https://shop.example/">s</a><a href="mailto:hi@shop.example">m</a>'
        '<a href="tel:+4930123">t</a><a href="#top">top</a><a href="/relative">r</a>'
    )
    assert sanitize_html(markup) == markup
