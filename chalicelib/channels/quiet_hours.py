"""Quiet hours at send time: no marketing texts at night in the recipient's local time.

Default for SMS (and WhatsApp, which arrives on the same phone): 21:00-08:00 (US TCPA). The zone
is the contact's when known; otherwise it is inferred from the phone number - the US/Canada area
code when it names one zone, else the country's zones from the IANA zone table. When a number
could be in several zones the send must be allowed in every one of them (never text anyone at
night because we guessed the wrong zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.channels.nanp_zones import AREA_CODE_ZONES, US_MAINLAND


@dataclass(frozen=True)
class QuietHours:
    start: time  # local time quiet hours begin (e.g. 21:00)
    end: time  # local time they end (e.g. 08:00); start > end spans midnight


DEFAULT_QUIET_HOURS: dict[str, QuietHours] = {
    "sms": QuietHours(time(21), time(8)),
    "whatsapp": QuietHours(time(21), time(8)),
}


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=1)
def _country_zones() -> dict[str, tuple[str, ...]]:
    """ISO country code -> IANA zones, from zone.tab (the tzdata package, else the system's)."""
    try:
        text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        system = Path("/usr/share/zoneinfo/zone.tab")
        text = system.read_text("utf-8") if system.exists() else ""
    zones: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            if len(parts) >= 3:
                zones.setdefault(parts[0], []).append(parts[2])
    return {country: tuple(names) for country, names in zones.items()}


@lru_cache(maxsize=4096)
def zones_for_phone(phone: str) -> tuple[str, ...]:
    """The zones a phone number may be in (empty when the number cannot be parsed)."""
    import phonenumbers  # phonenumberslite: metadata only, no timezone data - hence our tables

    number = phone.removeprefix("whatsapp:")
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ()
    region = phonenumbers.region_code_for_number(parsed)
    if parsed.country_code == 1:
        area = str(parsed.national_number)[:3]
        if area in AREA_CODE_ZONES:
            return (AREA_CODE_ZONES[area],)
        if region == "US" or region is None:
            return US_MAINLAND
    # An unassigned range has no region: take every region sharing the country code.
    regions = (
        [region] if region else phonenumbers.region_codes_for_country_code(parsed.country_code)
    )
    table = _country_zones()
    return tuple(dict.fromkeys(zone for code in regions for zone in table.get(code, ())))


def contact_zones(timezone: str | None, phone: str | None) -> tuple[ZoneInfo, ...]:
    known = _zone(timezone)
    if known is not None:
        return (known,)
    zones = tuple(z for z in (_zone(name) for name in zones_for_phone(phone or "")) if z)
    return zones or (ZoneInfo("UTC"),)


def _quiet_until(at: datetime, quiet: QuietHours, zone: ZoneInfo) -> datetime | None:
    """End of the quiet period `at` falls in (UTC), or None when `at` is outside it."""
    if quiet.start == quiet.end:
        return None
    local = at.astimezone(zone)
    now = local.time().replace(tzinfo=None)
    today = local.date()

    def local_end(day: date) -> datetime:
        return datetime.combine(day, quiet.end, tzinfo=zone).astimezone(UTC)

    if quiet.start < quiet.end:
        return local_end(today) if quiet.start <= now < quiet.end else None
    if now >= quiet.start:
        return local_end(today + timedelta(days=1))
    if now < quiet.end:
        return local_end(today)
    return None


def next_allowed_time(
    channel: str,
    now: datetime,
    *,
    timezone: str | None = None,
    phone: str | None = None,
    quiet: QuietHours | None = None,
) -> datetime:
    """`now` when a send on `channel` is allowed now, else the first moment it is (aware UTC).
    `quiet` overrides the channel's default; channels without quiet hours are always allowed."""
    quiet = quiet or DEFAULT_QUIET_HOURS.get(channel)
    start = at = now if now.tzinfo else now.replace(tzinfo=UTC)
    if quiet is None:
        return at
    zones = contact_zones(timezone, phone)
    for _ in range(8):  # a few hops settle it; the zones of one country are hours apart
        ends = [end for end in (_quiet_until(at, quiet, zone) for zone in zones) if end]
        if not ends:
            return at
        at = max(ends)
    # No moment is allowed in every zone (a country spanning ~half the globe): use the first.
    return _quiet_until(start, quiet, zones[0]) or start
