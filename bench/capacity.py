"""DynamoDB capacity as AWS bills it, measured on DynamoDB Local through botocore.

Every call goes out with `ReturnConsumedCapacity=TOTAL`, and the units come back split into write
units (WRU) and read units (RRU) by operation, per table. Two corrections make the figures what
the bill would say:

- TransactWriteItems is re-priced from the items themselves: DynamoDB Local reports odd totals
  for transactions, while AWS bills 2 units per KB of every item written and of every index
  entry the write changes. The meter reads each item before and after (these reads are not
  counted) to know its size and which index entries moved.
- A write whose condition fails reports nothing, yet AWS bills it: 1 unit (2 per action of a
  cancelled transaction).

Prices are AWS's list prices (on demand, API Gateway REST, Lambda; see ../shared/REFERENCE.md).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import botocore.client
from botocore.exceptions import ClientError

WRU_PRICE = 0.625 / 1e6  # $ per write request unit
RRU_PRICE = 0.125 / 1e6  # $ per read request unit
API_GATEWAY_PRICE = 3.50 / 1e6  # $ per REST API request
LAMBDA_REQUEST_PRICE = 0.20 / 1e6  # $ per invocation
LAMBDA_GB_SECOND = 0.0000166667  # $ per GB-second
LAMBDA_MEMORY_GB = 0.5  # .chalice/config.json lambda_memory_size

READS = {"GetItem", "Query", "BatchGetItem", "TransactGetItems", "Scan"}
WRITES = {
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
}
KB = 1024


@dataclass
class Usage:
    """What one part of the work consumed."""

    wru: float = 0.0
    rru: float = 0.0
    calls: int = 0
    seconds: float = 0.0  # Lambda time (the code between handler entry and exit)
    invocations: int = 0  # Lambda invocations
    http_requests: int = 0  # API Gateway requests
    by_table: Counter[str] = field(default_factory=Counter)

    def add(self, other: Usage) -> None:
        self.wru += other.wru
        self.rru += other.rru
        self.calls += other.calls
        self.seconds += other.seconds
        self.invocations += other.invocations
        self.http_requests += other.http_requests
        self.by_table.update(other.by_table)

    def dollars(self) -> float:
        return (
            self.wru * WRU_PRICE
            + self.rru * RRU_PRICE
            + self.http_requests * API_GATEWAY_PRICE
            + self.invocations * LAMBDA_REQUEST_PRICE
            + self.seconds * LAMBDA_MEMORY_GB * LAMBDA_GB_SECOND
        )


class CapacityMeter:
    """Install once; `take()` returns the usage since the previous take."""

    def __init__(self) -> None:
        self.usage = Usage()
        self._original: Any = None
        self._schemas: dict[str, dict[str, Any]] = {}

    def install(self) -> None:
        self._original = original = botocore.client.BaseClient._make_api_call
        meter = self

        def metered(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if operation not in READS | WRITES:
                return original(client, operation, params)
            params = {**params, "ReturnConsumedCapacity": "TOTAL"}
            if operation == "TransactWriteItems":
                return meter._transaction(client, params)
            try:
                response = original(client, operation, params)
            except ClientError as error:
                if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    meter._count(operation, params.get("TableName", "?"), 1.0)
                raise
            meter._consumed(operation, params, response)
            return response

        botocore.client.BaseClient._make_api_call = metered

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.client.BaseClient._make_api_call = self._original

    def take(self) -> Usage:
        usage, self.usage = self.usage, Usage()
        return usage

    @contextmanager
    def lambda_time(self, invocations: int = 1, http_requests: int = 0) -> Iterator[None]:
        """Time a Lambda invocation (or several that ran back to back)."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.usage.seconds += time.perf_counter() - began
            self.usage.invocations += invocations
            self.usage.http_requests += http_requests

    # --- counting ---------------------------------------------------------------------------

    def _count(self, operation: str, table: str, units: float) -> None:
        if operation in READS:
            self.usage.rru += units
        else:
            self.usage.wru += units
        self.usage.by_table[f"{operation} {_short(table)}"] += units

    def _consumed(self, operation: str, params: dict[str, Any], response: Any) -> None:
        self.usage.calls += 1
        consumed = response.get("ConsumedCapacity") if isinstance(response, dict) else None
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        minimums = _read_minimums(operation, params)
        for entry in entries:
            table = entry.get("TableName", "?")
            units = max(float(entry["CapacityUnits"]), minimums.pop(table, 0.0))
            self._count(operation, table, units)
        for table, units in minimums.items():  # DynamoDB Local reports nothing for no items
            self._count(operation, table, units)

    def _transaction(self, client: Any, params: dict[str, Any]) -> Any:
        actions = params["TransactItems"]
        before = [self._current(client, action) for action in actions]
        try:
            response = self._original(client, "TransactWriteItems", params)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                for action in actions:
                    self._count("TransactWriteItems", _table(action), 2.0)
            raise
        self.usage.calls += 1
        for action, old in zip(actions, before, strict=True):
            new = self._current(client, action)
            units = 2 * self._write_units(client, _table(action), old, new)
            self._count("TransactWriteItems", _table(action), units)
        return response

    def _current(self, client: Any, action: dict[str, Any]) -> dict[str, Any] | None:
        kind, body = next(iter(action.items()))
        if kind == "ConditionCheck":
            return None
        key = body.get("Key") or self._key_of(client, body["TableName"], body["Item"])
        response = self._original(
            client, "GetItem", {"TableName": body["TableName"], "Key": key, "ConsistentRead": True}
        )
        return response.get("Item")

    def _schema(self, client: Any, table: str) -> dict[str, Any]:
        if table not in self._schemas:
            self._schemas[table] = self._original(client, "DescribeTable", {"TableName": table})[
                "Table"
            ]
        return self._schemas[table]

    def _key_of(self, client: Any, table: str, item: dict[str, Any]) -> dict[str, Any]:
        names = [k["AttributeName"] for k in self._schema(client, table)["KeySchema"]]
        return {name: item[name] for name in names}

    def _write_units(
        self, client: Any, table: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> float:
        """Units of one item write: the larger of the item before and after, plus the index
        entries it puts or deletes (a changed index key is a delete and a put)."""
        units = float(max(_kb(old), _kb(new), 1))
        schema = self._schema(client, table)
        table_keys = [k["AttributeName"] for k in schema["KeySchema"]]
        for index in schema.get("GlobalSecondaryIndexes", []):
            names = [k["AttributeName"] for k in index["KeySchema"]]
            old_key = _index_key(old, names)
            new_key = _index_key(new, names)
            keys_only = index["Projection"]["ProjectionType"] == "KEYS_ONLY"
            if old_key is not None and old_key == new_key:
                if not keys_only and old != new:
                    units += _kb(_projected(new, index, table_keys))
                continue
            if old_key is not None:
                units += _kb(_projected(old, index, table_keys))
            if new_key is not None:
                units += _kb(_projected(new, index, table_keys))
        return units


def _read_minimums(operation: str, params: dict[str, Any]) -> dict[str, float]:
    """AWS bills a read that finds nothing too: 0.5 unit (1 when strongly consistent) per
    GetItem or Query, and per key of a BatchGetItem."""
    if operation in ("GetItem", "Query"):
        return {params["TableName"]: 1.0 if params.get("ConsistentRead") else 0.5}
    if operation == "BatchGetItem":
        return {
            table: len(request["Keys"]) * (1.0 if request.get("ConsistentRead") else 0.5)
            for table, request in params["RequestItems"].items()
        }
    return {}


def _table(action: dict[str, Any]) -> str:
    return str(next(iter(action.values()))["TableName"])


def _short(table: str) -> str:
    """Logical name: the stage prefix off ("t1234-contacts" -> "contacts")."""
    return table.split("-", 1)[-1]


def _index_key(item: dict[str, Any] | None, names: list[str]) -> tuple[Any, ...] | None:
    if item is None or not all(name in item for name in names):
        return None
    return tuple(repr(item[name]) for name in names)


def _projected(
    item: dict[str, Any] | None, index: dict[str, Any], table_keys: list[str]
) -> dict[str, Any] | None:
    if item is None:
        return None
    projection = index["Projection"]
    if projection["ProjectionType"] == "ALL":
        return item
    names = set(table_keys) | {k["AttributeName"] for k in index["KeySchema"]}
    names |= set(projection.get("NonKeyAttributes", []))
    return {name: value for name, value in item.items() if name in names}


def _kb(item: dict[str, Any] | None) -> int:
    return 0 if item is None else max(1, math.ceil(item_size(item) / KB))


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (the documented rules)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return _number_size(data)
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(_number_size(n) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in data.items())
    return 0


def _number_size(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits
    return (len(digits) + 1) // 2 + 1
