"""One set of tables per test worker, created once and emptied after every test.

Creating a stage's fourteen tables (with their indexes) costs DynamoDB Local about a second, and
deleting them another half: more than most tests. So each worker creates them once, and after
each test deletes exactly the items that test wrote. Every write goes through botocore's
`BaseClient._make_api_call` (PynamoDB's too), where `record` notes the key; `empty` deletes those
keys in batches. A process started during the test (`chalice local`, a CLI) writes where we
cannot see, so then `empty` scans every table instead. On a table with a stream, `empty` then
moves the process's stream position past everything the test and its clean-up wrote
(`LocalStream.skip`), so the next test's stream worker hands over only that test's records.

A table's stream is never switched off and on again to start afresh: DynamoDB Local keeps every
stream a table ever had, and each one it keeps makes every later write to the table slower
(after a few hundred tests, writes to the event log took ten times as long).
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import botocore.client

from chalicelib.config import Settings
from chalicelib.eventlog.local import LocalStream
from chalicelib.storage.models import ALL_MODELS
from chalicelib.storage.schema import logical_name, table_properties
from chalicelib.storage.tables import create_tables, dynamodb_client, streams_client

# The real call, taken before any test patches it: the clean-up's own requests (its Scans
# above all) must not pass through the guard that forbids code under test to scan.
UNGUARDED_CALL: Callable[..., Any] = botocore.client.BaseClient._make_api_call
BATCH = 25  # BatchWriteItem's limit
Key = tuple[tuple[str, str, Any], ...]  # (attribute, type, value) per key attribute, hashable


class SharedTables:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = dynamodb_client(settings)
        self.key_names: dict[str, tuple[str, ...]] = {
            settings.table_name(logical_name(model)): tuple(
                key["AttributeName"] for key in table_properties(model)["KeySchema"]
            )
            for model in ALL_MODELS
        }
        self.streams = streams_client(settings)
        self.streamed: dict[str, str] = {}  # table -> its stream's ARN
        self.written: dict[str, set[Key]] = defaultdict(set)
        self.outside_writers = False

    def create(self) -> None:
        create_tables(self.settings)
        for table in self.key_names:
            description = self._call("DescribeTable", TableName=table)["Table"]
            if description.get("StreamSpecification", {}).get("StreamEnabled"):
                self.streamed[table] = description["LatestStreamArn"]

    # -- recording (called for every botocore request of the process) ------------------------

    def record(self, operation: str, params: dict[str, Any]) -> None:
        """Note the keys a write request may create (also when the request then fails)."""
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            self._note(params.get("TableName"), params.get("Item") or params.get("Key"))
        elif operation == "BatchWriteItem":
            for table, requests in (params.get("RequestItems") or {}).items():
                for request in requests:
                    put = request.get("PutRequest", {}).get("Item")
                    self._note(table, put or request.get("DeleteRequest", {}).get("Key"))
        elif operation == "TransactWriteItems":
            for action in params.get("TransactItems") or []:
                for kind in ("Put", "Update", "Delete"):
                    if kind in action:
                        write = action[kind]
                        self._note(write.get("TableName"), write.get("Item") or write.get("Key"))

    def note_outside_writers(self) -> None:
        """Something outside this process may write to the tables: scan them when emptying."""
        self.outside_writers = True

    def _note(self, table: Any, item: Any) -> None:
        names = self.key_names.get(table) if isinstance(table, str) else None
        if names is None or not isinstance(item, dict):
            return  # another stage's table (moto, a test's own) or a malformed request
        # A malformed key is skipped: DynamoDB refuses such a request, so nothing was written.
        with contextlib.suppress(KeyError, AttributeError, StopIteration, TypeError):
            self.written[table].add(
                tuple((name, *next(iter(item[name].items()))) for name in names)
            )

    # -- emptying ------------------------------------------------------------------------------

    def empty(self) -> None:
        """Delete what the test wrote (everything, after outside writers); forget the record."""
        if self.outside_writers:
            for table in self.key_names:
                self.written[table].update(self._scan_keys(table))
        for table, keys in self.written.items():
            self._delete(table, sorted(keys, key=repr))
        for table, arn in self.streamed.items():
            if self.written.get(table):
                self._skip_stream(table, arn)
        self.written.clear()
        self.outside_writers = False

    def leftovers(self) -> dict[str, int]:
        """Items still in each table (a full scan: for checks, not for every test)."""
        counts = {table: sum(1 for _ in self._scan_keys(table)) for table in self.key_names}
        return {table: count for table, count in counts.items() if count}

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return dict(UNGUARDED_CALL(self.client, operation, params))

    def _scan_keys(self, table: str) -> Iterator[Key]:
        names = self.key_names[table]
        aliases = {f"#k{i}": name for i, name in enumerate(names)}
        params: dict[str, Any] = {
            "TableName": table,
            "ProjectionExpression": ", ".join(aliases),
            "ExpressionAttributeNames": aliases,
            "ConsistentRead": True,
        }
        while True:
            page = self._call("Scan", **params)
            for item in page.get("Items", []):
                yield tuple((name, *next(iter(item[name].items()))) for name in names)
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _delete(self, table: str, keys: list[Key]) -> None:
        for start in range(0, len(keys), BATCH):
            pending = {
                table: [
                    {"DeleteRequest": {"Key": {name: {kind: value} for name, kind, value in key}}}
                    for key in keys[start : start + BATCH]
                ]
            }
            while pending:  # DynamoDB Local never throttles, but honour the contract
                pending = self._call("BatchWriteItem", RequestItems=pending).get("UnprocessedItems")

    def _skip_stream(self, table: str, arn: str) -> None:
        """Past the test's records and the clean-up's deletes, for every poller of the process
        (the stream worker of the next test starts there)."""
        LocalStream(self.streams, table, arn, handler=_never).skip()


def _never(event: Any, context: Any) -> None:
    raise AssertionError("skipping hands no record over")


def worker_name() -> str:
    """pytest-xdist's worker id (gw0, gw1, …), or `main` in a run without workers."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")
