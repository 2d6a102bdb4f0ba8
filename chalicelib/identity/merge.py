"""Merge one contact into another: the absorbed contact's identities, enrollments and messages
move to the survivor (its events follow its identities: the log files them by identity key),
profiles combine, and a tombstone (`merged_into`) stays behind for the runtime's in-flight
wake-ups. A `contact_merged` event goes to the log. Each step is safe to re-run after a crash,
and a crash at any point leaves what re-runs it (tests/integration/test_merge_faults.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.constants import ITEM

from chalicelib.core.trust import INTERNAL
from chalicelib.eventlog.append import append
from chalicelib.eventlog.entry import Entry, contact_subject
from chalicelib.events import StoredEvent
from chalicelib.identity import store
from chalicelib.identity.combine import COUNTS, combine
from chalicelib.storage import messages as message_store
from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.models import Contact, Enrollment, Message

_RETRIES = 5
_message_moves = 0  # see message_moves()
PROFILE_FIELDS = (
    "attributes",
    "consents",
    "first_seen",
    "last_seen",
    "first_touch",
    "last_touch",
    "last_order_at",
    "timezone",
    "tags",
    *COUNTS,
)


class MergeRefused(Exception):
    """The two contacts belong to different known users (distinct user ids): never merged."""


class AlreadyMerged(Exception):
    def __init__(self, into: str) -> None:
        super().__init__(f"already merged into {into}")
        self.into = into


@dataclass(frozen=True)
class MergeResult:
    survivor: str
    absorbed: str
    identities: tuple[str, ...]
    enrollments: int
    messages: int
    event: StoredEvent  # `contact_merged`, stored on the survivor


def merge(survivor: str, absorbed: str, now: datetime, named: Iterable[str] = ()) -> MergeResult:
    """`named`: the identity keys of the event that caused the merge; they move last."""
    absorbed_ids = store.of_contact(absorbed)
    users = {i.identity for i in absorbed_ids if i.kind == "user"}
    survivor_users = {i.identity for i in store.of_contact(survivor) if i.kind == "user"}
    if users and survivor_users and users.isdisjoint(survivor_users):
        raise MergeRefused(f"{absorbed} and {survivor} have different user ids")

    # The order matters for a re-run after a crash: the identities move last, the event's own
    # keys last of all, so until every step is done the absorbed contact still owns a key the
    # event names, and its retry (or the stream's redelivery) merges them again, finishing it.
    snapshot = _tombstone(absorbed, survivor)
    _combine_into(survivor, absorbed, snapshot)
    enrollments = _move_enrollments(absorbed, survivor)
    messages = _move_messages(absorbed, survivor)
    last = set(named)
    moved = tuple(i.identity for i in sorted(absorbed_ids, key=lambda i: i.identity in last))
    stored = StoredEvent(
        contact_id=survivor,
        event_id=f"merge-{absorbed}",
        type="merge",
        name="contact_merged",
        timestamp=now,
        properties={
            "absorbed_contact_id": absorbed,
            "identities": list(moved),
            "enrollments": enrollments,
            "messages": messages,
        },
        source="identity",
        trust=INTERNAL,
    )
    append(
        [
            Entry(
                subject=contact_subject(survivor),
                event_id=stored.event_id,
                type=stored.type,
                name=stored.name,
                timestamp=now,
                properties=stored.properties,
                source=stored.source,
                trust=INTERNAL,
            )
        ],
        now,
    )
    for key in moved:
        store.repoint(key, absorbed, survivor)  # (False: an earlier run moved it)
    _clear_tombstone(absorbed, survivor)
    return MergeResult(survivor, absorbed, moved, enrollments, messages, stored)


def _tombstone(absorbed: str, survivor: str) -> dict[str, Any]:
    """Mark the absorbed contact first (atomically reading its profile): a crash after this
    point leaves a contact that says where its data went, its profile intact (no write lands on
    a tombstone) until the survivor has combined it."""
    connection = Contact._get_connection()
    try:
        with conflicts_as_domain_errors("tombstone contact"):
            response = connection.update_item(
                absorbed,
                actions=[Contact.merged_into.set(survivor), Contact.version.add(1)],
                condition=Contact.merged_into.does_not_exist() | (Contact.merged_into == survivor),
                return_values="ALL_OLD",
            )
    except ConflictError:
        current = Contact.get(absorbed, consistent_read=True)
        raise AlreadyMerged(current.merged_into or survivor) from None
    old = response.get("Attributes")
    if not old:
        return {}
    # A re-run finds its own tombstone and the profile still there: the survivor's
    # `merged_from` says whether it was combined already.
    return _profile(Contact.from_raw_data(old))


def _profile(contact: Contact) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        value = getattr(contact, name)
        profile[name] = value.as_dict() if hasattr(value, "as_dict") else value
    profile["merged_from"] = set(contact.merged_from or ())
    profile["listens"] = set(contact.listens or ())  # chalicelib.runtime.listening
    profile["listens_kept"] = bool(contact.listens_kept)
    return profile


def _move_enrollments(absorbed: str, survivor: str) -> int:
    moved = 0
    for enrollment in Enrollment.query(absorbed, consistent_read=True):
        for _ in range(_RETRIES):
            try:
                _rekey(enrollment, survivor)
                moved += 1
                break
            except ConflictError:
                # The runtime advanced it meanwhile: move the fresh copy.
                try:
                    enrollment = Enrollment.get(
                        absorbed, enrollment.enrollment_key, consistent_read=True
                    )
                except Enrollment.DoesNotExist:
                    break
    return moved


def _rekey(enrollment: Enrollment, survivor: str) -> None:
    """Put the same item (every attribute, version included) under the survivor and delete the
    old one in one transaction, guarded by the old item's version. The copy leaves out the last
    commit's figures: they were counted when that commit wrote them (chalicelib.analytics.
    step_tallies), and a copy bringing them again would count them again."""
    connection = Enrollment._get_connection()
    attributes = enrollment.serialize()
    attributes.pop("figures", None)
    attributes.pop("figures_of", None)
    attributes.pop("contact_id")
    range_key = attributes.pop("enrollment_key")["S"]
    put = connection.get_operation_kwargs(
        survivor,
        range_key=range_key,
        key=ITEM,
        attributes=attributes,
        condition=Enrollment.enrollment_key.does_not_exist(),
    )
    delete = enrollment.get_delete_kwargs_from_instance()
    with conflicts_as_domain_errors("move enrollment"):
        connection.connection.transact_write_items(
            condition_check_items=[], delete_items=[delete], put_items=[put], update_items=[]
        )


def message_moves() -> int:
    """How many times this process began moving a contact's messages: a copy of a message read
    before then may still name the absorbed contact (chalicelib.worker.messages)."""
    return _message_moves


def _move_messages(absorbed: str, survivor: str) -> int:
    global _message_moves
    _message_moves += 1  # before the first write: a reader comparing counts never misses one
    moved = 0
    for message in message_store.of_contact(absorbed):  # full items: the update checks the version
        for _ in range(_RETRIES):
            try:
                with conflicts_as_domain_errors("move message"):
                    moves = [Message.contact_id.set(survivor)]
                    if message.recorded_for:  # listed (by_contact): under the survivor now
                        moves.append(Message.recorded_for.set(survivor))
                    if message.onsite_inbox:  # an on-site message still waiting: theirs now
                        moves.append(Message.onsite_inbox.set(survivor))
                    message.update(actions=moves)
                moved += 1
                break
            except ConflictError:
                message = Message.get(message.message_id, consistent_read=True)
                if message.contact_id != absorbed:
                    break
    return moved


def _combine_into(survivor: str, absorbed: str, snapshot: dict[str, Any]) -> None:
    tombstones = {absorbed, *snapshot.get("merged_from", ())}
    for _ in range(_RETRIES):
        try:
            contact = Contact.get(survivor, consistent_read=True)
        except Contact.DoesNotExist:
            contact = Contact(survivor)
        if absorbed in (contact.merged_from or ()):
            return  # combined by an earlier run (that crashed before the end)
        combined = combine(_profile(contact), snapshot) if snapshot else {}
        actions = [
            getattr(Contact, name).set(value)
            for name, value in combined.items()
            if value is not None
        ]
        actions.append(Contact.merged_from.add(tombstones))
        # The absorbed contact's listening enrollments are listed here before they move; a
        # contact from before the list may bring some unlisted: the survivor's is then read.
        if snapshot.get("listens"):
            actions.append(Contact.listens.add(snapshot["listens"]))
        if snapshot and not snapshot.get("listens_kept"):
            actions.append(Contact.listens_kept.remove())
        try:
            with conflicts_as_domain_errors("combine contacts"):
                contact.update(actions=actions, condition=Contact.merged_into.does_not_exist())
            break
        except ConflictError:
            continue  # changed underneath (a counter bump): read again and recombine
    else:
        raise ConflictError(f"could not combine {absorbed} into {survivor}: too much contention")
    # Older tombstones that pointed at the absorbed contact now point straight at the survivor.
    for older in tombstones - {absorbed}:
        Contact._get_connection().update_item(older, actions=[Contact.merged_into.set(survivor)])


def _clear_tombstone(absorbed: str, survivor: str) -> None:
    """The absorbed contact keeps only its id and `merged_into`: its data lives on elsewhere."""
    removable = [*PROFILE_FIELDS, "merged_from", "listens", "listens_kept"]
    Contact._get_connection().update_item(
        absorbed,
        actions=[getattr(Contact, name).remove() for name in removable],
        condition=Contact.merged_into == survivor,
    )
