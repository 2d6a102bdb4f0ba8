"""The counters table: figures added up on write, read back with one Query per scope (never a
Scan).

Most figures reach it through `fold` (chalicelib.analytics.fold): each counter has one write
shard per lane (`{metric}#~{lane}`), and a shard remembers the last tally position it folded,
so a tally delivered twice is added once and no single item takes more than a lane's share of
the writes. Readers sum the shards. Jobs that change a contact's state add their figures in the
same transaction as the change (`write_in`), unsharded: both forms sum alike on read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from pynamodb.exceptions import UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.analytics.tally import Tally
from chalicelib.storage.errors import ConflictError
from chalicelib.storage.models import Counter

SHARD = "#~"  # what separates a metric from its write shard ('#' never comes from user data)


def shard_metric(metric: str, lane: int) -> str:
    return f"{metric}{SHARD}{lane}"


def fold(scope: str, metric: str, lane: int, amounts: Sequence[tuple[str, Decimal]]) -> None:
    """Add a lane's amounts (tally position, amount) to the metric's shard for that lane, each
    position once: one UpdateItem in the common case; a redelivery (some positions folded
    already) reads the shard and adds only what is new. Positions are `stream.position_key`s,
    increasing along the lane."""
    if not amounts:
        return
    first = min(position for position, _ in amounts)
    last = max(position for position, _ in amounts)
    item = Counter(scope=scope, metric=shard_metric(metric, lane))
    try:
        _add(item, sum((a for _, a in amounts), Decimal(0)), last, _none_folded_from(first))
        return
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
    done = Counter.get(scope, item.metric, consistent_read=True).folded or ""
    rest = [amount for position, amount in amounts if position > done]
    if not rest:
        return
    try:
        _add(item, sum(rest, Decimal(0)), last, Counter.folded == done)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise ConflictError(f"counter {scope}/{metric} lane {lane} folded elsewhere") from error
        raise


def _none_folded_from(first: str) -> object:
    return Counter.folded.does_not_exist() | (Counter.folded < first)


def _add(item: Counter, amount: Decimal, last: str, condition: object) -> None:
    item.update(
        actions=[Counter.value.add(_number(amount)), Counter.folded.set(last)],
        condition=condition,  # type: ignore[arg-type]
    )


def write(tally: Tally) -> None:
    """Direct ADDs, for an operator's correction (a deleted segment's gauge back to zero): not
    for figures of events or steps, which a redelivery would count twice."""
    for scope, metric, amount in tally.items():
        Counter(scope=scope, metric=metric).update(actions=[Counter.value.add(_number(amount))])


def write_in(transaction: TransactWrite, tally: Tally) -> None:
    """ADDs inside a transaction (with the change they count): exactly once, unsharded."""
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
    return _summed(Counter.query(scope, condition, consistent_read=True))


def read_range(scope: str, low: str, high: str) -> dict[str, float]:
    """Metrics from `low` to `high` (their shards sort right after them: `#~` < `~`)."""
    return _summed(Counter.query(scope, Counter.metric.between(low, high), consistent_read=True))


def _summed(rows: Iterable[Counter]) -> dict[str, float]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row.metric.split(SHARD, 1)[0]] += Decimal(str(row.value))
    return {metric: _clean(total) for metric, total in totals.items()}


def _number(amount: Decimal) -> int | float:
    # PynamoDB writes numbers through json: an exact Decimal goes as its shortest float repr.
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _clean(value: Decimal) -> float:
    return int(value) if value == value.to_integral_value() else float(value)
