"""A validated Segment call as a log entry: filed under its strongest identity key, its id
namespaced by the site (write key) or webhook source it came from."""

from __future__ import annotations

from typing import Any

from chalicelib.eventlog.entry import Entry, identity_subject, namespaced
from chalicelib.ingest.identities import identities_of
from chalicelib.ingest.spec import Call


def call_entry(
    call: Call,
    namespace: str,
    *,
    source: str = "segment",
    trust: str | None = None,
    phone_region: str = "",
    context: dict[str, Any] | None = None,
) -> Entry:
    """`trust`: what the source proves (default: the call's own, set by the route)."""
    found = identities_of(call, phone_region)
    keys = tuple(key for key in found.keys if key not in found.lookup_only)
    if not keys and not found.lookup_only:
        raise Unidentified(f"{call.name} names nobody: no user id, anonymous id, email or phone")
    level = trust or call.trust
    return Entry(
        subject=identity_subject(keys or found.lookup_only, level),
        event_id=namespaced(namespace, call.message_id),
        type=call.type,
        name=call.name,
        timestamp=call.timestamp,
        properties=call.properties,
        context={**_stored_context(call), **(context or {})},
        keys=keys,
        lookup=found.lookup_only,
        source=source,
        trust=level,
        anchor=call.anchor,
    )


class Unidentified(ValueError):
    """The event carries no usable identity (a webhook's email that is not an email)."""


def _stored_context(call: Call) -> dict[str, Any]:
    """A page call's page fields are its properties already: the copy in context is dropped."""
    if call.type in ("page", "screen") and "page" in call.context:
        return {name: value for name, value in call.context.items() if name != "page"}
    return call.context
