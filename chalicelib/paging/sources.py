"""Sources for paged jobs: pages of a DynamoDB Query (a GSI's shards, one partition each)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.indexes import GlobalSecondaryIndex

from chalicelib.paging.kinds import Page, Work


@dataclass(frozen=True)
class IndexQuery:
    """Pages of `index.query(partition, range_condition)`, one partition per hash key (`index`
    is a GSI, or a model to query the table's own key).

    `range_condition` may depend on the job (e.g. "due at or before the job's as_of"). The page
    ends where DynamoDB's LastEvaluatedKey says, so a page never holds more than `limit` items
    and the next one starts right after the last item handled."""

    index: Any  # GlobalSecondaryIndex or Model: both have .query(hash_key, condition, ...)
    hash_keys: Callable[[Work], Sequence[str]]
    range_condition: Callable[[Work], Condition | None] | None = None
    counts_all: bool = False  # the index holds exactly the items to read: its size is a total

    def partitions(self, work: Work) -> list[str]:
        return list(self.hash_keys(work))

    def read(self, work: Work, partition: str, start: dict[str, Any] | None, limit: int) -> Page:
        condition = self.range_condition(work) if self.range_condition else None
        results = self.index.query(
            partition, condition, limit=limit, last_evaluated_key=start, page_size=limit
        )
        items = list(results)
        return Page(items, results.last_evaluated_key)

    def estimate(self, work: Work) -> int | None:
        """The index's item count from DescribeTable (free; refreshed about every 6 hours)."""
        if not self.counts_all or not isinstance(self.index, GlobalSecondaryIndex):
            return None
        name = self.index.Meta.index_name
        description = self.index._model.describe_table()
        for index in description.get("GlobalSecondaryIndexes", []):
            if index.get("IndexName") == name and "ItemCount" in index:
                return int(index["ItemCount"])
        return None


def shards(prefix: str, count: int) -> Callable[[Work], list[str]]:
    """The hash keys of a sharded index: prefix0 .. prefix{count-1}."""
    return lambda work: [f"{prefix}{n}" for n in range(count)]
