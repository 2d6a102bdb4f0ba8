"""Analytics' record of each contact (ContactStats): first sighting with its cohort, orders and
lifetime value, merges. Every change is one conditional write or an atomic ADD."""

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
    new: bool  # first time analytics saw this contact


def sight(contact_id: str, at: datetime) -> Sighting:
    """The contact's stats, created on first sight with its first-touch cohort."""
    try:
        return Sighting(ContactStats.get(contact_id, consistent_read=True), False)
    except ContactStats.DoesNotExist:
        pass
    source, campaign = first_touch(contact_id)
    stats = ContactStats(
        contact_id,
        shard=shard(contact_id, "c", CONTACT_SHARDS),
        first_seen=at,
        cohort=source,
        campaign=campaign,
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


def record_order(contact_id: str, amount: Decimal, at: datetime) -> ContactStats:
    """ADD the order; returns the stats after it (orders == 1: the contact's first order)."""
    stats = ContactStats(contact_id)
    base = [
        ContactStats.orders.add(1),
        ContactStats.revenue.add(_number(amount)),
        ContactStats.buyer_shard.set(
            ContactStats.buyer_shard | shard(contact_id, "b", BUYER_SHARDS)
        ),
    ]
    newest = ContactStats.last_order_at.does_not_exist() | (ContactStats.last_order_at < at)
    try:
        stats.update(actions=[*base, ContactStats.last_order_at.set(at)], condition=newest)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        stats.update(actions=base)  # an older order arriving late: last_order_at stays
    return stats


@dataclass(frozen=True)
class Absorbed:
    gone: ContactStats  # the absorbed contact's stats
    survivor_cohort: tuple[str, str]
    survivor_was_buyer: bool


def absorb(survivor: str, absorbed: str, at: datetime) -> Absorbed | None:
    """Move the absorbed contact's orders to the survivor, once (the claim is conditional);
    None when there is nothing to do."""
    try:
        gone = ContactStats.get(absorbed, consistent_read=True)
    except ContactStats.DoesNotExist:
        return None
    try:
        gone.update(
            actions=[ContactStats.merged_into.set(survivor), ContactStats.buyer_shard.remove()],
            condition=ContactStats.merged_into.does_not_exist(),
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None  # absorbed already (a re-run merge)
        raise
    kept = sight(survivor, at).stats
    moved = Absorbed(gone, (kept.cohort, kept.campaign), bool(kept.orders))
    if gone.orders:
        actions = [
            ContactStats.orders.add(int(gone.orders)),
            ContactStats.revenue.add(_number(Decimal(str(gone.revenue)))),
            ContactStats.buyer_shard.set(
                ContactStats.buyer_shard | shard(survivor, "b", BUYER_SHARDS)
            ),
        ]
        later = gone.last_order_at and (
            not kept.last_order_at or kept.last_order_at < gone.last_order_at
        )
        if later:
            actions.append(ContactStats.last_order_at.set(gone.last_order_at))
        kept.update(actions=actions)
    return moved


def _number(amount: Decimal) -> int | float:
    return int(amount) if amount == amount.to_integral_value() else float(amount)
