"""What each order still counts for, so refunds and cancellations take back exactly what it
added, once: an order counts as one order and its total, less refunds; a cancelled or fully
refunded order counts for nothing; the same order reported twice (the snippet and the shop)
counts once.

The ledger of an order is a counters scope (`order#{id}`): `total`, `refund#{event id}`,
`cancelled`, `seen#{event id}`, `credit#{message id}` (the message its revenue was attributed
to) and `version`. Each change is one transaction: the ledger (guarded by `version`, and by
the event's own `seen#` item, so a replayed event changes nothing) together with the contact's
`orders_count` / `total_spent` and analytics' `orders` / `revenue` (lifetime value). A change
also keeps what it moved (`delta#{event id}#…`): a replayed event reports the same change, so
the stream worker's figures are the same each time it handles the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.analytics.tally import money
from chalicelib.storage.contacts import resolve
from chalicelib.storage.models import Contact, ContactStats, Counter

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Standing:
    """What an order counts for: 1 order (or 0) and its value."""

    orders: int = 0
    value: Decimal = Decimal(0)

    def __sub__(self, other: Standing) -> Standing:
        return Standing(self.orders - other.orders, self.value - other.value)

    def __bool__(self) -> bool:
        return bool(self.orders or self.value)


@dataclass(frozen=True)
class Change:
    """A ledger change: how the contact's figures moved, and where the revenue was credited."""

    delta: Standing
    credited_message: str | None


def scope(order_id: str) -> str:
    return f"order#{order_id}"


def standing(ledger: Mapping[str, Decimal]) -> Standing:
    total = ledger.get("total")
    if total is None or ledger.get("cancelled"):
        return Standing()
    refunded = sum((v for k, v in ledger.items() if k.startswith("refund#")), Decimal(0))
    if total > 0 and refunded >= total:
        return Standing()
    return Standing(1, max(Decimal(0), total - refunded))


def record_order(
    connection: Connection,
    order_id: str,
    event_id: str,
    contact_id: str,
    total: Decimal,
    credited_message: str | None,
) -> Change | None:
    """An order was counted (+1, +total) by ingest and analytics: remember it. Returns the
    correction when that count was wrong (a refund or cancellation came first, or the order was
    already counted from another source), None when it was right or the event is a replay."""

    def change(ledger: dict[str, Decimal]) -> dict[str, Decimal]:
        if "total" in ledger:
            return {}  # counted before: this second count is undone below
        new = {"total": total}
        if credited_message:
            new[f"credit#{credited_message}"] = Decimal(0)
        return new

    def correction(before: Standing, after: Standing, ledger: dict[str, Decimal]) -> Standing:
        counted = Standing(1, total)
        if "total" in ledger:
            return Standing() - counted
        return (after - before) - counted

    return _apply(connection, order_id, event_id, contact_id, change, correction)


def refund(
    connection: Connection, order_id: str, event_id: str, contact_id: str, amount: Decimal
) -> Change | None:
    return _apply(
        connection,
        order_id,
        event_id,
        contact_id,
        lambda ledger: {f"refund#{event_id}": max(Decimal(0), amount)},
        lambda before, after, ledger: after - before,
    )


def cancel(connection: Connection, order_id: str, event_id: str, contact_id: str) -> Change | None:
    return _apply(
        connection,
        order_id,
        event_id,
        contact_id,
        lambda ledger: {} if ledger.get("cancelled") else {"cancelled": Decimal(1)},
        lambda before, after, ledger: after - before,
    )


def _read(order_id: str) -> dict[str, Decimal]:
    return {
        row.metric: money(row.value) for row in Counter.query(scope(order_id), consistent_read=True)
    }


def _apply(connection, order_id, event_id, contact_id, change, correction) -> Change | None:  # type: ignore[no-untyped-def]
    for _ in range(MAX_ATTEMPTS):
        ledger = _read(order_id)
        credit = next((k[7:] for k in ledger if k.startswith("credit#")), None)
        if f"seen#{event_id}" in ledger:  # applied already: report what it changed, again
            applied = _applied(ledger, event_id)
            return Change(applied, credit) if applied else None
        new = change(ledger)
        after_ledger = {**ledger, **new}
        delta = correction(standing(ledger), standing(after_ledger), ledger)
        target = _survivor(contact_id)
        try:
            _commit(connection, order_id, event_id, ledger.get("version"), new, target, delta)
        except TransactWriteError:
            continue  # another change to this order (or a merge) came first: read again
        return Change(delta, credit) if delta else None
    raise RuntimeError(f"order {order_id}: too much contention")


def _survivor(contact_id: str) -> str:
    contact = resolve(contact_id)
    return contact.contact_id if contact is not None else contact_id


def _commit(
    connection: Connection,
    order_id: str,
    event_id: str,
    version: Decimal | None,
    new: Mapping[str, Decimal],
    contact_id: str,
    delta: Standing,
) -> None:
    key = scope(order_id)
    with TransactWrite(connection=connection) as transaction:
        guard = Counter.value == _number(version) if version else Counter.value.does_not_exist()
        transaction.update(
            Counter(scope=key, metric="version"), [Counter.value.add(1)], condition=guard
        )
        transaction.save(
            Counter(scope=key, metric=f"seen#{event_id}", value=1),
            condition=Counter.scope.does_not_exist(),
        )
        for metric, value in new.items():
            transaction.save(Counter(scope=key, metric=metric, value=_number(value)))
        if delta:  # what this event changed, for its replays (their figures are the same)
            for metric, value in _delta_items(event_id, delta).items():
                transaction.save(Counter(scope=key, metric=metric, value=_number(value)))
        if delta:
            contact = Contact(contact_id)
            contact.version = 0  # ADD 1 without a version condition (see profile_store)
            transaction.update(
                contact,
                [
                    Contact.orders_count.add(delta.orders),
                    Contact.total_spent.add(_number(delta.value)),
                ],
                condition=Contact.contact_id.exists() & Contact.merged_into.does_not_exist(),
                add_version_condition=False,
            )
            transaction.update(
                ContactStats(contact_id),
                [
                    ContactStats.orders.add(delta.orders),
                    ContactStats.revenue.add(_number(delta.value)),
                ],
                condition=ContactStats.contact_id.exists(),
            )


def _delta_items(event_id: str, delta: Standing) -> dict[str, Decimal]:
    return {
        f"delta#{event_id}#orders": Decimal(delta.orders),
        f"delta#{event_id}#value": delta.value,
    }


def _applied(ledger: Mapping[str, Decimal], event_id: str) -> Standing:
    return Standing(
        int(ledger.get(f"delta#{event_id}#orders", Decimal(0))),
        ledger.get(f"delta#{event_id}#value", Decimal(0)),
    )


def _number(amount: Decimal | None) -> int | float:
    amount = amount or Decimal(0)
    return int(amount) if amount == amount.to_integral_value() else float(amount)
