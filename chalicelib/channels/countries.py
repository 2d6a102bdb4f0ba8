"""Which countries an SMS or WhatsApp may go to (AUTOFUNNEL_SMS_COUNTRIES).

SMS pumping fills sign-up forms with premium-rate numbers abroad and bills the shop for the
texts; an allow-list of the countries the shop sells to stops it at the door (Twilio's own
advice: geo permissions)."""

from __future__ import annotations

from collections.abc import Collection

from chalicelib.config import ANY_COUNTRY


def country_of(phone: str) -> str | None:
    """ISO country of an E.164 number ("+12125550100" -> "US", "+18765550100" -> "JM")."""
    import phonenumbers  # only when a text is due, not in every cold start

    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None


def refusal(phone: str | None, allowed: Collection[str]) -> str | None:
    """Why `phone` may not get a text, or None when it may (or there is no number)."""
    if not phone or ANY_COUNTRY in allowed:
        return None
    country = country_of(phone)
    if country in allowed:
        return None
    if not allowed:
        return "no country is allowed: set AUTOFUNNEL_SMS_COUNTRIES or AUTOFUNNEL_PHONE_REGION"
    listed = ", ".join(sorted(allowed))
    return f"{country or 'the number'} is not in AUTOFUNNEL_SMS_COUNTRIES ({listed})"
