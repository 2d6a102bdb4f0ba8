"""The counters table: ADD on write, read a scope back with one Query (never a Scan)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from pynamodb.transactions import TransactWrite

from chalicelib.analytics.tally import Tally
from chalicelib.storage.models import Counter


def write(tally: Tally) -> None:
    """One UpdateItem ADD per counter: atomic, so concurrent writers never lose an increment."""
    for scope, metric, amount in tally.items():
        Counter(scope=scope, metric=metric).update(actions=[Counter.value.add(_number(amount))])


def write_in(transaction: TransactWrite, tally: Tally) -> None:
    """The same ADDs as `write`, inside a transaction (with the change they count)."""
    for scope, metric, amount in tally.items():
        transaction.update(
            Counter(scope=scope, metric=metric), [Counter.value.add(_number(amount))]
        )


def put(scope: str, values: dict[str, float]) -> None:
    """Overwrite figures of a snapshot scope (the RFM grid) in BatchWriteItem requests."""
    with Counter.batch_write() as batch:
        for metric, value in values.items():
            batch.save(Counter(scope=scope, metric=metric, value=_number(Decimal(str(value)))))


def read(scope: str, prefix: str | None = None) -> dict[str, float]:
    condition = Counter.metric.startswith(prefix) if prefix else None
    return {
        row.metric: _clean(row.value)
        for row in Counter.query(scope, condition, consistent_read=True)
    }


def read_range(scope: str, low: str, high: str) -> dict[str, float]:
    return {
        row.metric: _clean(row.value)
        for row in Counter.query(scope, Counter.metric.between(low, high), consistent_read=True)
    }


def read_many(scopes: Iterable[str]) -> dict[str, dict[str, float]]:
    return {scope: read(scope) for scope in scopes}


def _number(amount: Decimal) -> int | float:
    # PynamoDB writes numbers through json: an exact Decimal goes as its shortest float repr.
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _clean(value: float) -> float:
    return int(value) if float(value).is_integer() else float(value)
