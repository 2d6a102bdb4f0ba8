"""Analytics' record of each contact (ContactStats): first sighting with its cohort, orders and
lifetime value, merges. Every change is one conditional write, and remembers what made it: an
event handled again (a redelivered batch) finds its own doing and changes nothing, yet reports
the same figures as the first time (chalicelib.analytics.fold)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.storage.models import Contact, ContactStats

BUYER_SHARDS = 4  # the RFM job reads buyers with one Query per shard
CONTACT_SHARDS = 8  # a new segment's backfill reads every contact, one Query per shard
NO_SOURCE = "(none)"


def shard(contact_id: str, prefix: str, count: int) -> str:
    return f"{prefix}{int(hashlib.sha256(contact_id.encode()).hexdigest()[:8], 16) % count}"


@dataclass(frozen=True)
class Sighting:
    stats: ContactStats
    new: bool  # this event is the one analytics first saw the contact with


def sight(contact_id: str, at: datetime, key: str = "") -> Sighting:
    """The contact's stats, created on first sight (by the event `key`) with its first-touch
    cohort."""
    try:
        stats = ContactStats.get(contact_id, consistent_read=True)
        return Sighting(stats, bool(key) and stats.first_event == key)
    except ContactStats.DoesNotExist:
        pass
    source, campaign = first_touch(contact_id)
    stats = ContactStats(
        contact_id,
        shard=shard(contact_id, "c", CONTACT_SHARDS),
        first_seen=at,
        cohort=source,
        campaign=campaign,
        first_event=key or None,
    )
    try:
        stats.save(condition=ContactStats.contact_id.does_not_exist())
        return Sighting(stats, True)
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
    return Sighting(ContactStats.get(contact_id, consistent_read=True), False)  # lost a race


def first_touch(contact_id: str) -> tuple[str, str]:
    """(source, campaign) of the contact's first visit; ingest stored it before we are told."""
    try:
        touch = Contact.get(contact_id).first_touch
    except Contact.DoesNotExist:
        touch = None
    data: dict[str, Any] = touch.as_dict() if touch is not None else {}
    return str(data.get("source") or NO_SOURCE), str(data.get("campaign") or "")


@dataclass(frozen=True)
class Order:
    stats: ContactStats  # after the order
    first: bool  # the contact's first order


def order_key(key: str) -> str:
    """A short key of the order event (its contact's set of counted orders stays small)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def record_order(contact_id: str, amount: Decimal, at: datetime, key: str) -> Order:
    """Count the order (event `key`) once on the contact's stats; an order counted already
    changes nothing and reads the same (first or not) as when it was counted."""
    short = order_key(key)
    stats = ContactStats(contact_id)
    base = [
        ContactStats.orders.add(1),
        ContactStats.revenue.add(_number(amount)),
        ContactStats.order_keys.add({short}),
        ContactStats.first_order.set(ContactStats.first_order | short),
        ContactStats.buyer_shard.set(
            ContactStats.buyer_shard | shard(contact_id, "b", BUYER_SHARDS)
        ),
    ]
    new = ContactStats.order_keys.does_not_exist() | ~ContactStats.order_keys.contains(short)
    newest = ContactStats.last_order_at.does_not_exist() | (ContactStats.last_order_at < at)
    for actions, condition in (
        ([*base, ContactStats.last_order_at.set(at)], new & newest),
        (base, new),  # an older order arriving late: last_order_at stays
    ):
        try:
            stats.update(actions=actions, condition=condition)
            return Order(stats, stats.first_order == short)
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
    stats = ContactStats.get(contact_id, consistent_read=True)  # counted by an earlier attempt
    return Order(stats, stats.first_order == short)


@dataclass(frozen=True)
class Absorbed:
    gone: ContactStats  # the absorbed contact's stats
    survivor_cohort: tuple[str, str]
    survivor_was_buyer: bool


def absorb(survivor: str, absorbed: str, at: datetime) -> Absorbed | None:
    """Move the absorbed contact's orders to the survivor, once; None when there is nothing to
    do. The claim on the absorbed contact notes the survivor as it was, so a merge handled
    again reports the same move, and the survivor takes the orders once (`absorbed`)."""
    try:
        gone = ContactStats.get(absorbed, consistent_read=True)
    except ContactStats.DoesNotExist:
        return None
    if gone.merged_into is None:
        kept = sight(survivor, at).stats
        note = {"cohort": kept.cohort, "campaign": kept.campaign, "buyer": bool(kept.orders)}
        try:
            gone.update(
                actions=[
                    ContactStats.merged_into.set(survivor),
                    ContactStats.merge_note.set(note),
                    ContactStats.buyer_shard.remove(),
                ],
                condition=ContactStats.merged_into.does_not_exist(),
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            gone.refresh(consistent_read=True)
    if gone.merged_into != survivor or gone.merge_note is None:
        return None  # merged elsewhere, or before merges were noted
    note = gone.merge_note.as_dict()
    moved = Absorbed(gone, (str(note["cohort"]), str(note["campaign"])), bool(note["buyer"]))
    if gone.orders:
        _take_orders(survivor, gone)
    return moved


def _take_orders(survivor: str, gone: ContactStats) -> None:
    actions = [
        ContactStats.orders.add(int(gone.orders)),
        ContactStats.revenue.add(_number(Decimal(str(gone.revenue)))),
        ContactStats.absorbed.add({gone.contact_id}),
        ContactStats.buyer_shard.set(ContactStats.buyer_shard | shard(survivor, "b", BUYER_SHARDS)),
    ]
    once = ContactStats.absorbed.does_not_exist() | ~ContactStats.absorbed.contains(gone.contact_id)
    later = ContactStats.last_order_at.does_not_exist() | (
        ContactStats.last_order_at < gone.last_order_at
    )
    choices = [(actions, once)]
    if gone.last_order_at is not None:
        choices.insert(
            0, ([*actions, ContactStats.last_order_at.set(gone.last_order_at)], once & later)
        )
    for chosen, condition in choices:
        try:
            ContactStats(survivor).update(actions=chosen, condition=condition)
            return
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise


def _number(amount: Decimal) -> int | float:
    return int(amount) if amount == amount.to_integral_value() else float(amount)
