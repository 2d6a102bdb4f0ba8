"""Reading a person's chat answer as the value a `wait_reply` step stores (pure).

parse_reply("email", " Anna@Example.com ") -> "anna@example.com"
parse_reply("phone", "030 1234567", region="DE") -> "+49301234567"
parse_reply("number", "2,5") -> 2.5;  parse_reply("text", "  hi ") -> "hi"
anything that does not fit -> None
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_ANSWER = 500  # characters kept of a free-text answer
# An answer stored as the contact's `email` / `phone` is an address the runtime links to the
# contact at once: the steps right after may send there.
CHANNELS_OF_ADDRESS = {"email": ("email",), "phone": ("sms", "whatsapp")}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_reply(expect: str, text: Any, region: str | None = None) -> Any:
    if not isinstance(text, str) or not text.strip():
        return None
    answer = text.strip()
    if expect == "email":
        email = answer.lower().strip("<>")
        return email if _EMAIL.match(email) and len(email) <= 254 else None
    if expect == "phone":
        return _phone(answer, region)
    if expect == "number":
        try:
            number = float(answer.replace(",", ".").replace(" ", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return answer[:MAX_ANSWER]


def _phone(answer: str, region: str | None) -> str | None:
    import phonenumbers  # ~25 ms of import: only when a reply is read as a phone number

    try:
        number = phonenumbers.parse(answer, region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
