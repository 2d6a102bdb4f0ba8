"""Deep-link tokens: what Telegram's /start parameter and m.me's ref accept, and what a forged,
expired or foreign token gets (nothing linked)."""

from __future__ import annotations

import re
import uuid

import pytest

from chalicelib.tracking.tokens import (
    MAX_DEEPLINK_ID_BYTES,
    TokenError,
    deeplink_token,
    read_deeplink_token,
)

SECRET = "s3cret"
NOW = 1_709_542_920
START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # Telegram's rule for ?start=


@pytest.mark.parametrize(
    "anonymous_id", ["f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "visitor-1", "x" * 31, "Ölga"]
)
def test_tokens_fit_telegrams_start_parameter_and_round_trip(anonymous_id: str) -> None:
    token = deeplink_token(SECRET, anonymous_id, NOW + 60)
    assert START_PARAMETER.match(token), token
    link = read_deeplink_token(SECRET, token, NOW)
    assert (link.anonymous_id, link.expires_at) == (anonymous_id, NOW + 60)


def test_a_uuid_packs_into_44_characters() -> None:
    assert len(deeplink_token(SECRET, str(uuid.uuid4()), NOW)) == 44


def test_ids_that_cannot_fit_are_refused_when_the_link_is_made() -> None:
    with pytest.raises(TokenError):
        deeplink_token(SECRET, "x" * (MAX_DEEPLINK_ID_BYTES + 1), NOW)
    with pytest.raises(TokenError):
        deeplink_token("", "visitor-1", NOW)


@pytest.mark.parametrize(
    ("token", "now", "secret"),
    [
        (deeplink_token(SECRET, "visitor-1", NOW), NOW + 1, SECRET),  # expired
        (deeplink_token(SECRET, "visitor-1", NOW + 60), NOW, "other-secret"),  # foreign
        (deeplink_token(SECRET, "visitor-1", NOW + 60)[:-2] + "AA", NOW, SECRET),  # forged
        ("guide", NOW, SECRET),  # a plain campaign word
        ("", NOW, SECRET),
        ("A" * 65, NOW, SECRET),
    ],
)
def test_bad_tokens_are_refused(token: str, now: int, secret: str) -> None:
    with pytest.raises(TokenError):
        read_deeplink_token(secret, token, now)


def test_a_click_token_is_not_a_deep_link() -> None:
    from chalicelib.tracking.tokens import click_token

    with pytest.raises(TokenError):
        read_deeplink_token(SECRET, click_token(SECRET, "m", "https://x.example", NOW + 60), NOW)
