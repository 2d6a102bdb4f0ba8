"""Finding a contact from a provider's address, and marking addresses dead.

Identity keys are "{kind}:{value}" (ingestion's convention): emails lower-cased, phones E.164.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.exceptions import PutError

from chalicelib.channels.routing import ADDRESS_KINDS
from chalicelib.storage.models import Identity


def normalise(kind: str, value: str) -> str:
    value = value.strip()
    if kind == "email":
        return value.lower()
    if kind in ("phone", "whatsapp"):
        return value.removeprefix("whatsapp:")
    return value


def key(kind: str, value: str) -> str:
    return f"{kind}:{normalise(kind, value)}"


def find(kind: str, value: str) -> Identity | None:
    try:
        return Identity.get(key(kind, value))
    except Identity.DoesNotExist:
        return None


def contact_for(kinds: tuple[str, ...], value: str) -> Identity | None:
    """The first identity of `kinds` (in order) that exists for `value`."""
    for kind in kinds:
        identity = find(kind, value)
        if identity is not None:
            return identity
    return None


def mark_unreachable(
    contact_id: str, channel: str, address: str, at: datetime | None = None
) -> None:
    """A provider said this address is dead: no funnel may use it for `channel` again.
    WhatsApp gets an identity of its own, so a number not on WhatsApp still receives SMS."""
    kinds = ADDRESS_KINDS.get(channel)
    if not kinds:
        return
    kind = kinds[0]
    identity = find(kind, address)
    if identity is None and kind != "whatsapp":
        return  # not an address we know: nothing to mark
    if identity is None:
        identity = Identity(
            key(kind, address),
            contact_id=contact_id,
            kind=kind,
            value=normalise(kind, address),
            created_at=at or datetime.now(UTC),
        )
        try:
            identity.save(condition=Identity.identity.does_not_exist())
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            identity = Identity.get(identity.identity)
    if identity.contact_id == contact_id and not identity.unreachable:
        identity.update(actions=[Identity.unreachable.set(True)])
