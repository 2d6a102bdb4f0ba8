"""How much a tracking call proves: decided at the route from the key it came with and its
identity hash (chalicelib.core.trust names the levels).

A server key proves everything the call says. A write key is public: its calls are claims,
unless they carry a valid identity hash, computed by the shop's server as
hex(HMAC-SHA256(AUTOFUNNEL_IDENTITY_SECRET, user id)) for a call with a user id, or over the
email (as sent, or trimmed and lower-cased) for a call that names an email and no user id, the
way Intercom's identity verification works. The hash proves that one identity: the anchor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Iterator

from chalicelib.core.trust import CLAIM, IDENTITY_HASH, SERVER
from chalicelib.identity.keys import InvalidIdentity, identity_key
from chalicelib.ingest.spec import Call


def identity_hash(secret: str, value: str) -> str:
    """What the shop's server computes for a signed-in person (hex)."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def with_trust(call: Call, server_key: bool, identity_secret: str) -> Call:
    """The call with its trust level and anchor set."""
    if server_key:
        return dataclasses.replace(call, trust=SERVER, anchor=None, user_hash=None)
    anchor = verified_identity(call, identity_secret)
    level = IDENTITY_HASH if anchor else CLAIM
    return dataclasses.replace(call, trust=level, anchor=anchor, user_hash=None)


def verified_identity(call: Call, identity_secret: str) -> str | None:
    """The identity key the call's hash proves, or None (no hash, no secret, a wrong hash)."""
    given = call.user_hash
    if not given or not identity_secret:
        return None
    for key, signed in _candidates(call):
        # Every candidate is compared, each in constant time.
        if hmac.compare_digest(identity_hash(identity_secret, signed), given):
            return key
    return None


def _candidates(call: Call) -> Iterator[tuple[str, str]]:
    if call.user_id is not None:
        yield identity_key("user", call.user_id), call.user_id
        return
    context_traits = call.context.get("traits")
    for traits in (call.traits, context_traits if isinstance(context_traits, dict) else {}):
        email = traits.get("email")
        if not isinstance(email, str):
            continue
        try:
            key = identity_key("email", email)
        except InvalidIdentity:
            continue
        for signed in dict.fromkeys((email, email.strip().lower())):
            yield key, signed
