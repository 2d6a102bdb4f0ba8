"""How many SMS segments a text costs: GSM-7 fits 160 characters (153 per part when split),
anything else is UCS-2 at 70 (67 per part). Rate limits and costs count segments."""

from __future__ import annotations

import math

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")  # two septets each


def sms_encoding(text: str) -> str:
    """GSM-7 when every character is in the GSM alphabet, else UCS-2 (one emoji is enough)."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in text):
        return "GSM-7"
    return "UCS-2"


def sms_segments(text: str) -> int:
    if not text:
        return 1
    if sms_encoding(text) == "GSM-7":
        length = sum(2 if char in _GSM_EXTENDED else 1 for char in text)
        single, part = 160, 153
    else:
        length = len(text.encode("utf-16-le")) // 2  # UTF-16 code units
        single, part = 70, 67
    return 1 if length <= single else math.ceil(length / part)
