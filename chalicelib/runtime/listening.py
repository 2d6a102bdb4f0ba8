"""The contact's list of its active enrollments that listen to every event (`Contact.listens`).

A funnel version whose conditions (a wait's, an exit's) may change on any event hears every
event; without a list, each event of every contact would read the contact's enrollments to find
out whether it has one (1 read unit per contact and batch). The worker's profile update returns
the contact item at no cost, list included: an event no funnel names needs the enrollments only
when the list is not empty.

The list errs only on the side of a read: a key is added before the enrollment's start commits
and removed after its end commits, so a crash in between leaves a key too many (removed when the
enrollments are read and show it ended), never one too few. A merge carries the absorbed
contact's keys to the survivor before its enrollments move (identity.merge). Contacts from
before the list have no `listens_kept`: their enrollments are read, and the first read lists
what it finds (`adopt`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.models import Contact


class ContactMerged(Exception):
    """The contact became a merge tombstone: the input is to be handled again on the survivor
    (the stream or the scheduler delivers it again; the resolver then follows the tombstone)."""


@dataclass(frozen=True)
class Listening:
    """What the contact item said when the worker updated its profile."""

    keys: frozenset[str]  # enrollment keys listed
    kept: bool  # the list is complete (False: a contact from before it)
    version: int  # the contact's version after that update (adopt is guarded by it)


def from_item(attributes: dict[str, Any], version_after: int) -> Listening:
    """From a raw contact item (DynamoDB's ReturnValues ALL_OLD)."""
    keys = frozenset(attributes.get("listens", {}).get("SS", ()))
    kept = bool(attributes.get("listens_kept", {}).get("BOOL", False))
    return Listening(keys, kept, version_after)


def created() -> Listening:
    """A contact this very update created: nothing to list yet, and the list is complete."""
    return Listening(frozenset(), True, 1)


def mark(contact_id: str, enrollment_key: str) -> None:
    """Before a listening enrollment's start commits. Raises ContactMerged on a tombstone."""
    connection = Contact._get_connection()
    actions = [Contact.listens.add({enrollment_key}), Contact.version.add(1)]
    # The contact item exists and is no tombstone; or there is none yet (enrolled by id before
    # any event): the item starts with this key, not marked complete (enrollments from before
    # the list may exist), so the first event reads the enrollments and adopts them. Twice:
    # the worker may create the item between the two.
    conditions = [
        Contact.contact_id.exists() & Contact.merged_into.does_not_exist(),
        Contact.contact_id.does_not_exist(),
    ]
    for condition in conditions * 2:
        try:
            with conflicts_as_domain_errors("list a listening enrollment"):
                connection.update_item(contact_id, actions=actions, condition=condition)
            return
        except ConflictError:
            continue
    raise ContactMerged(contact_id)


def unmark(contact_id: str, enrollment_keys: Collection[str]) -> None:
    """After the enrollments ended (a key left over costs a read, never a missed exit)."""
    if not enrollment_keys:
        return
    with contextlib.suppress(ConflictError), conflicts_as_domain_errors("unlist enrollments"):
        Contact._get_connection().update_item(
            contact_id,
            actions=[Contact.listens.delete(set(enrollment_keys)), Contact.version.add(1)],
            condition=Contact.contact_id.exists(),
        )


def adopt(contact_id: str, enrollment_keys: Collection[str], version: int) -> None:
    """A contact from before the list: list the listening enrollments just read and mark the
    list complete, unless the contact changed since (a merge may be bringing more)."""
    actions = [Contact.listens_kept.set(True), Contact.version.add(1)]
    if enrollment_keys:
        actions.append(Contact.listens.add(set(enrollment_keys)))
    with contextlib.suppress(ConflictError), conflicts_as_domain_errors("adopt the list"):
        Contact._get_connection().update_item(
            contact_id, actions=actions, condition=Contact.version == version
        )
