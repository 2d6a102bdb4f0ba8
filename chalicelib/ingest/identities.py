"""The identity keys a call carries: ids, and the email/phone in its traits."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from chalicelib.identity.keys import InvalidIdentity, identity_key
from chalicelib.ingest.spec import Call

TRAIT_IDENTITIES = {"email": "email", "phone": "phone"}


@dataclass(frozen=True)
class CallIdentities:
    keys: tuple[str, ...]
    lookup_only: tuple[str, ...] = ()


def identities_of(call: Call, phone_region: str = "") -> CallIdentities:
    keys: list[str] = list(call.identities)
    if call.user_id is not None:
        keys.append(identity_key("user", call.user_id))
    if call.anonymous_id is not None:
        keys.append(identity_key("anon", call.anonymous_id))
    context_traits = call.context.get("traits")
    for traits in (call.traits if call.type == "identify" else {}, context_traits):
        if not isinstance(traits, dict):
            continue
        for trait, kind in TRAIT_IDENTITIES.items():
            value = traits.get(trait)
            if value in (None, ""):
                continue
            with suppress(InvalidIdentity):  # kept as a trait; it just cannot identify anyone
                keys.append(identity_key(kind, value, phone_region))
    lookup_only: list[str] = []
    if call.type == "alias" and call.previous_id is not None:
        # previousId is whatever id the person had before: an anonymous id or an old user id.
        lookup_only = [
            identity_key("user", call.previous_id),
            identity_key("anon", call.previous_id),
        ]
        keys.extend(lookup_only)
    return CallIdentities(tuple(dict.fromkeys(keys)), tuple(lookup_only))
