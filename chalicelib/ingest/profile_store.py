"""Apply a ProfileDelta with one UpdateItem (ADD counters, SET if_not_exists for firsts), never
read-modify-write. Every update also ADDs 1 to `version`, so a concurrent versioned save of the
contact (the runtime's) fails and re-reads instead of overwriting these counters.

The trait cap (`limits.MAX_TRAITS_PER_CONTACT`) rides on the same UpdateItem as a condition on
the size of the attributes map; only a contact near its cap pays a read to tell which traits
are new. A delta that would break the cap, or DynamoDB's 400 KB item, raises ProfileFull
before anything is written, so the caller can drop the excess and apply the rest.

A delta built from the event log carries, per subject, the positions of its entries (`seen`):
the update is conditional on none of them being applied yet and records the last. A stream
batch delivered again finds them applied (AlreadyApplied, with what the contact has seen), so
counters such as orders and total spent never count an entry twice."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from chalicelib.ingest.limits import MAX_TRAITS_PER_CONTACT, Limit, fit_traits, profile_traits
from chalicelib.ingest.profile import ProfileDelta
from chalicelib.runtime import listening
from chalicelib.runtime.listening import Listening
from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.models import Contact

log = logging.getLogger(__name__)
_MAX_HOPS = 5
_PATHS_PER_UPDATE = 100  # trait/consent paths per UpdateItem: far below the 4 KB expression cap


class ProfileFull(Exception):
    """The delta's traits do not fit the contact: nothing was written. `existing`: the trait
    names already held (None when the item is out of bytes); `created`: the contact is still
    to be created."""

    def __init__(self, contact_id: str, existing: frozenset[str] | None, created: bool) -> None:
        super().__init__(contact_id)
        self.contact_id = contact_id
        self.existing = existing
        self.created = created


class AlreadyApplied(Exception):
    """Some of the delta's entries are applied already: `seen` is the contact's record of the
    last position applied per subject (nothing was written)."""

    def __init__(self, contact_id: str, seen: dict[str, str]) -> None:
        super().__init__(contact_id)
        self.contact_id = contact_id
        self.seen = seen


class TombstoneHit(Exception):
    def __init__(self, survivor: str) -> None:
        super().__init__(survivor)
        self.survivor = survivor


@dataclass(frozen=True)
class Fitted:
    contact_id: str  # the contact updated (a merge tombstone is followed)
    refused: list[tuple[Any, Limit]]  # calls refused, with the limit each broke
    fresh: bool | None = None  # this update began the profile (None: not known, nothing written)
    listening: Listening | None = None  # the contact's listening enrollments, as updated


def apply_fitting(
    contact_id: str,
    calls: Sequence[Any],
    created: bool,
    seen: dict[str, tuple[str, str]] | None = None,
) -> Fitted:
    """Apply one contact's calls (Segment calls or log entries: `.type`, `.traits`, time
    order) in one update; at the trait cap, drop the identifies that do not fit and apply the
    rest, so a full contact keeps taking events. Returns (the contact id updated, the refused
    calls with the limit each broke). The ingest pipeline answers the refused with a 4xx; a
    worker that can no longer answer should record them and carry on. `seen`: the calls' log
    positions per subject (ProfileDelta.seen); raises AlreadyApplied."""
    refused: list[tuple[Any, Limit]] = []
    kept = list(calls)
    for _ in range(3):  # another writer may fill the profile between our read and our write
        if not kept:  # all refused: nothing to write (handled again, they are refused again)
            return Fitted(contact_id, refused)
        delta = _delta(kept)
        delta.seen = dict(seen or {})
        try:
            updated, fresh, listens = apply(contact_id, delta, created)
            return Fitted(updated, refused, fresh, listens)
        except ProfileFull as full:
            contact_id, created = full.contact_id, full.created
            kept, dropped = fit_traits(kept, full.existing)
            refused += dropped
    raise ConflictError(f"contact {contact_id}: its profile kept changing")


def _delta(calls: Sequence[Any]) -> ProfileDelta:
    delta = ProfileDelta()
    for call in calls:
        delta.add(call)
    return delta


def apply(
    contact_id: str, delta: ProfileDelta, created: bool
) -> tuple[str, bool, Listening | None]:
    """Update the contact; returns the id actually updated (a merge tombstone is followed),
    whether this update began its profile (it had no first_seen before) and what the item
    lists of its listening enrollments (chalicelib.runtime.listening)."""
    for _ in range(_MAX_HOPS):
        try:
            return (contact_id, *_apply_once(contact_id, delta, created))
        except TombstoneHit as hit:
            contact_id, created = hit.survivor, False
    raise ConflictError(f"contact {contact_id}: too many merge hops")


def _apply_once(
    contact_id: str, delta: ProfileDelta, created: bool
) -> tuple[bool, Listening | None]:
    if created and len(profile_traits(delta.traits)) > MAX_TRAITS_PER_CONTACT:
        raise ProfileFull(contact_id, frozenset(), created=True)
    try:
        return _write(contact_id, delta, created)
    except UpdateError as error:
        if not _too_big(error):
            raise
        raise ProfileFull(contact_id, None, created=False) from error


def _write(contact_id: str, delta: ProfileDelta, created: bool) -> tuple[bool, Listening | None]:
    """Whether the contact had no profile before (no first_seen), and its listening list."""
    if created:
        # A brand-new contact: its maps are written whole, in the same single request.
        maps = [
            Contact.attributes.set(delta.traits),
            Contact.consents.set(delta.consents),
            Contact.listens_kept.set(True),  # nothing to list yet: the list is complete
        ]
        if delta.seen:
            maps.append(Contact.seen.set({name: last for name, (_, last) in delta.seen.items()}))
        try:
            with conflicts_as_domain_errors("create contact"):
                _update(
                    contact_id,
                    _scalars(delta, True, True) + maps,
                    Contact.contact_id.does_not_exist(),
                )
            return True, listening.created()
        except ConflictError:
            pass  # a merge in this request created it first: update it like any other
    paths = _paths(delta)
    not_merged = Contact.merged_into.does_not_exist()
    # Common case: these events are the newest yet, and not older than the first seen.
    in_order = (Contact.last_seen.does_not_exist() | (Contact.last_seen <= delta.last_seen)) & (
        Contact.first_seen.does_not_exist() | (Contact.first_seen <= delta.first_seen)
    )
    head = paths[:_PATHS_PER_UPDATE]
    room = _room_for(delta)
    condition = not_merged & in_order & room
    for name, (first, _) in delta.seen.items():
        condition &= Contact.seen[name].does_not_exist() | (Contact.seen[name] < first)
    try:
        old = _update_with_maps(
            contact_id, _scalars(delta, True, False) + _seen(delta) + head, condition
        )
        fresh = delta.first_seen is None or "first_seen" not in old
        listens = _listening(old)
    except ConflictError:
        fresh, listens = _apply_out_of_order(contact_id, delta, head)
    for start in range(_PATHS_PER_UPDATE, len(paths), _PATHS_PER_UPDATE):
        try:
            _update_with_maps(contact_id, paths[start : start + _PATHS_PER_UPDATE], not_merged)
        except UpdateError as error:
            if not _too_big(error):
                raise
            # The first update (counters) is in: raising would make the caller count it twice.
            log.warning("contact %s is out of bytes: %d traits dropped", contact_id, len(paths))
            break
        listens = None  # the contact changed after the first update: not known
    return fresh, listens


def _listening(old: dict[str, Any]) -> Listening | None:
    if "version" not in old:
        return None
    return listening.from_item(old, int(old["version"]["N"]) + 1)


def _apply_out_of_order(
    contact_id: str, delta: ProfileDelta, head: list[Any]
) -> tuple[bool, Listening | None]:
    """A tombstone, or events older than what is recorded (late delivery, an import): read the
    contact and set only the fields these events improve, guarded by its version."""
    for _ in range(_MAX_HOPS):
        contact = Contact.get(contact_id, consistent_read=True)
        if contact.merged_into:
            raise TombstoneHit(contact.merged_into)
        seen = {str(k): str(v) for k, v in (contact.seen.as_dict() if contact.seen else {}).items()}
        if any(seen.get(name, "") >= first for name, (first, _) in delta.seen.items()):
            raise AlreadyApplied(contact_id, seen)
        held = frozenset(contact.attributes.as_dict() if contact.attributes else ())
        new = profile_traits(delta.traits) - held
        if new and len(held) + len(new) > MAX_TRAITS_PER_CONTACT:
            raise ProfileFull(contact_id, held, created=False)
        latest = contact.last_seen is None or contact.last_seen <= delta.last_seen
        earliest = contact.first_seen is None or delta.first_seen < contact.first_seen
        try:
            _update_with_maps(
                contact_id,
                _scalars(delta, latest, earliest) + _seen(delta) + head,
                Contact.version == contact.version,
            )
            listens = Listening(
                frozenset(contact.listens or ()),
                bool(contact.listens_kept),
                int(contact.version or 0) + 1,
            )
            return contact.first_seen is None, listens
        except ConflictError:
            continue
    raise ConflictError(f"contact {contact_id}: too much contention")


def _seen(delta: ProfileDelta) -> list[Any]:
    return [Contact.seen[name].set(last) for name, (_, last) in delta.seen.items()]


def _room_for(delta: ProfileDelta) -> Any:
    """True when the traits fit even if all are new; otherwise the condition fails and the
    out-of-order path reads the contact to count the new ones."""
    spare = MAX_TRAITS_PER_CONTACT - len(profile_traits(delta.traits))
    return Contact.attributes.does_not_exist() | (size(Contact.attributes) <= spare)


def _too_big(error: UpdateError) -> bool:
    """DynamoDB refuses an update that would take the item past 400 KB."""
    return error.cause_response_code == "ValidationException" and "maximum allowed size" in (
        error.cause_response_message or ""
    )


def _scalars(delta: ProfileDelta, latest: bool, earliest: bool) -> list[Any]:
    """`latest`: these events are the newest (set last_*); `earliest`: they are older than the
    recorded first_seen (overwrite first_*); otherwise first_* are set only if absent."""
    actions: list[Any] = []
    for attribute, amount in (
        (Contact.sessions, delta.sessions),
        (Contact.page_views, delta.page_views),
        (Contact.orders_count, delta.orders),
        (Contact.total_spent, float(delta.spent)),
    ):
        if amount:
            actions.append(attribute.add(amount))
    if delta.first_seen is not None:
        first_seen = delta.first_seen if earliest else Contact.first_seen | delta.first_seen
        actions.append(Contact.first_seen.set(first_seen))
    if delta.first_touch is not None:
        touch = delta.first_touch if earliest else Contact.first_touch | delta.first_touch
        actions.append(Contact.first_touch.set(touch))
    if delta.last_order_at is not None:
        actions.append(Contact.last_order_at.set(delta.last_order_at))
    fallback_touch = delta.last_touch or delta.first_touch
    if latest:
        if delta.last_seen is not None:
            actions.append(Contact.last_seen.set(delta.last_seen))
        if delta.last_touch is not None:
            actions.append(Contact.last_touch.set(delta.last_touch))
        elif fallback_touch is not None:
            actions.append(Contact.last_touch.set(Contact.last_touch | fallback_touch))
        if delta.timezone:
            actions.append(Contact.timezone.set(delta.timezone))
    elif fallback_touch is not None:
        actions.append(Contact.last_touch.set(Contact.last_touch | fallback_touch))
    return actions


def _paths(delta: ProfileDelta) -> list[Any]:
    """Newest value wins, key by key: SET attributes.<trait> (the rest of the map is kept)."""
    return [Contact.attributes[name].set(value) for name, value in delta.traits.items()] + [
        Contact.consents[channel].set(decision) for channel, decision in delta.consents.items()
    ]


def _update_with_maps(contact_id: str, actions: list[Any], condition: Any) -> dict[str, Any]:
    """The item as it was before the update (DynamoDB returns it at no cost)."""
    if not actions:
        return {}
    with conflicts_as_domain_errors("update contact"):
        try:
            return _update(contact_id, actions, condition)
        except UpdateError as error:
            # A contact written elsewhere without its maps: a path below them is invalid.
            if error.cause_response_code != "ValidationException":
                raise
            _update(
                contact_id,
                [
                    Contact.attributes.set(Contact.attributes | {}),
                    Contact.consents.set(Contact.consents | {}),
                    Contact.seen.set(Contact.seen | {}),
                ],
                condition,
            )
            return _update(contact_id, actions, condition)


def _update(contact_id: str, actions: list[Any], condition: Any) -> dict[str, Any]:
    response = Contact._get_connection().update_item(
        contact_id,
        actions=[*actions, Contact.version.add(1)],
        condition=condition,
        return_values="ALL_OLD",
    )
    return dict(response.get("Attributes") or {})
