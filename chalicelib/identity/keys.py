"""Identity keys: "{kind}:{value}", normalised so that the same person always yields the same key.

Emails are lowercased, phone numbers are E.164 (`phonenumbers`), ids are kept as given.
"""

from __future__ import annotations

import re

# Strongest first: when contacts must merge, the one holding the strongest identity survives.
KINDS = (
    "user",
    "email",
    "phone",
    "telegram",
    "whatsapp",
    "messenger",
    "instagram",
    "anon",
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_VALUE_LENGTH = 512  # keeps a key far below DynamoDB's 2 KB partition key limit


class InvalidIdentity(ValueError):
    """The value cannot identify anyone (not an email, not a phone number, empty...)."""


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.match(email) or len(email) > MAX_VALUE_LENGTH:
        raise InvalidIdentity(f"{value!r} is not an email address")
    return email


def normalise_phone(value: str, region: str = "") -> str:
    """E.164 ("+15551234567"); a number without "+" needs `region` (e.g. "US")."""
    import phonenumbers  # 12 ms of import: only when a phone number comes in, not at cold start

    try:
        number = phonenumbers.parse(value, region or None)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentity(f"{value!r} is not a phone number: {error}") from error
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity(f"{value!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def identity_key(kind: str, value: object, region: str = "") -> str:
    """The normalised key, or InvalidIdentity naming what is wrong."""
    if kind not in KINDS:
        raise InvalidIdentity(f"unknown identity kind {kind!r} (one of {', '.join(KINDS)})")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidIdentity(f"a {kind} identity must be a string, not {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise InvalidIdentity(f"the {kind} identity is empty")
    if kind == "email":
        text = normalise_email(text)
    elif kind == "phone":
        text = normalise_phone(text, region)
    elif len(text) > MAX_VALUE_LENGTH:
        raise InvalidIdentity(f"the {kind} identity is longer than {MAX_VALUE_LENGTH} characters")
    return f"{kind}:{text}"


def split_key(key: str) -> tuple[str, str]:
    kind, _, value = key.partition(":")
    return kind, value


def strength(key: str) -> int:
    """Lower is stronger (a user id beats an email beats ... an anonymous id)."""
    kind, _ = split_key(key)
    return KINDS.index(kind) if kind in KINDS else len(KINDS)
