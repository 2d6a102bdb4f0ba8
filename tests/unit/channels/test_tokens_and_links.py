"""Signed tokens and link rewriting: what a person clicking our links depends on."""

from __future__ import annotations

import pytest

from chalicelib.tracking.links import rewrite_links
from chalicelib.tracking.tokens import (
    TokenError,
    click_token,
    read_click_token,
    read_unsubscribe_token,
    unsubscribe_token,
)

SECRET = "s3cret"
PUBLIC = "https://af.example.test"


def test_click_token_round_trips_and_is_url_safe() -> None:
    token = click_token(SECRET, "msg-1", "https://shop.example/p?a=1&b=ü")
    assert all(c.isalnum() or c in "-_." for c in token)
    assert read_click_token(SECRET, token).url == "https://shop.example/p?a=1&b=ü"
    assert read_click_token(SECRET, token).message_id == "msg-1"


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
        content, public_url=PUBLIC, secret=SECRET, message_id="m1", keep=[unsubscribe]
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
    again = rewrite_links(out, public_url=PUBLIC, secret=SECRET, message_id="m1")
    assert again == out
