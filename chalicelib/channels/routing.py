"""Channel fallback: a step lists channels in order (e.g. [telegram, whatsapp, sms, email]); the
message goes out on the first one the contact has an address for, has not opted out of, whose
address is not known to be dead, and that this deployment can send on."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

# Which identity kinds give a channel its address, in order of preference.
ADDRESS_KINDS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "sms": ("phone",),
    "whatsapp": ("whatsapp", "phone"),
    "telegram": ("telegram",),
    "messenger": ("messenger",),
    "instagram": ("instagram",),
    "onsite": ("anon",),  # a browser of the contact's: the snippet shows the message there
}


def consented(consents: Mapping[str, Any], channel: str) -> bool:
    """An explicit opt-out (granted false) refuses the channel. No record counts as consent: the
    person gave us this address through an opt-in form, and ingestion records the opt-in."""
    record = consents.get(channel)
    if record is None:
        return True
    if isinstance(record, bool):
        return record
    if isinstance(record, Mapping):
        return record.get("granted", True) is not False
    return True


def choose_route(
    channels_in_order: Sequence[str],
    addresses: Mapping[str, str],
    consents: Mapping[str, Any],
    unreachable: Collection[str],
    configured: Collection[str],
) -> tuple[str, str] | None:
    """(channel, address) of the first usable channel, or None when none is.

    `addresses`: channel -> address; `consents`: Contact.consents (channel -> {"granted": bool});
    `unreachable`: channels whose address a provider reported dead; `configured`: channels this
    deployment has a sender for (`build_channels(settings)`'s keys)."""
    for channel in channels_in_order:
        address = addresses.get(channel)
        if not address or channel not in configured or channel in unreachable:
            continue
        if consented(consents, channel):
            return channel, address
    return None
