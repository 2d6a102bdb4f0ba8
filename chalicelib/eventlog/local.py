"""`make run` and the tests: the same stream handlers AWS Lambda calls, fed by polling DynamoDB
Local's streams (DescribeStream, GetShardIterator, GetRecords) the way an event source mapping
does: per shard, in order, in batches; a failed record and everything after it delivered again
(up to MAX_ATTEMPTS times, then skipped with an error line, like an on-failure destination).

Like an event source mapping, which keeps its position whichever container runs the handler, the
process remembers how far each stream was handled: a poller built later (the real application
after the demo seed's time-travel stack handled its records, a test's stack after the app's)
starts after the last record handled, not again from TRIM_HORIZON. `make run` also keeps the
positions in its data folder (`keep_positions_in`), so a restart does not hand over again the
last 24 hours of records that DynamoDB Local's streams still hold.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from chalicelib.eventlog.stream import BATCH_SIZE, position_key

log = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any], Any], Mapping[str, Any] | None]
MAX_ATTEMPTS = 5

# Stream ARN -> shard id -> the sequence number of the last record handled (or skipped) there.
_handled: dict[str, dict[str, str]] = {}
_positions_file: Path | None = None


def keep_positions_in(path: Path) -> None:
    """Load the positions a previous process saved in `path`, and save them there from now on."""
    global _positions_file
    _positions_file = path
    if path.exists():
        for arn, shards in json.loads(path.read_text()).items():
            _handled.setdefault(arn, {}).update(shards)


def _save_positions() -> None:
    if _positions_file is None:
        return
    partial = _positions_file.with_suffix(".partial")
    partial.write_text(json.dumps(_handled))
    os.replace(partial, _positions_file)  # never a half-written file after a crash


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    last_read: str = ""  # the sequence number of the last record fetched
    pending: list[dict[str, Any]] = field(default_factory=list)  # fetched, not yet handled
    attempts: int = 0
    done: bool = False  # closed and fully read


class LocalStream:
    """One table's stream and the handler its records go to."""

    def __init__(
        self, client: Any, table: str, arn: str, handler: Handler, batch_size: int = BATCH_SIZE
    ) -> None:
        self.client = client
        self.table = table
        self.arn = arn
        self.handler = handler
        self.batch_size = batch_size
        self.shards: dict[str, _Shard] = {}
        self.handled = _handled.setdefault(arn, {})

    def poll(self) -> int:
        """Hand every record available now to the handler; returns how many were handled."""
        handled = 0
        for shard in self._open_shards():
            while True:
                batch = self.fetch(shard)
                if not batch:
                    break
                handled += self.deliver(shard, batch)
        return handled

    def skip(self) -> int:
        """Move past every record available now without handing it to the handler (the move is
        remembered like a handled record's): what a later poller must not see, such as what
        the tests' clean-up deletes between two tests. Returns how many records it skipped."""
        skipped = 0
        for shard in self._open_shards():
            while batch := self.fetch(shard):
                self._done(shard, batch, len(batch))
                skipped += len(batch)
        return skipped

    def fetch(self, shard: _Shard) -> list[dict[str, Any]]:
        """The next batch of the shard (what a failed delivery left pending comes first)."""
        while len(shard.pending) < self.batch_size and shard.iterator:
            try:
                response = self.client.get_records(ShardIterator=shard.iterator, Limit=1000)
            except self.client.exceptions.ClientError as error:
                if _code(error) not in ("TrimmedDataAccessException", "ExpiredIteratorException"):
                    raise
                # DynamoDB Local trims the iterator of a shard that was empty when it was made
                # (and iterators expire after 15 minutes): start again after the last record read.
                shard.iterator = self._iterator(shard)
                continue
            shard.iterator = response.get("NextShardIterator")
            records = response.get("Records") or []
            if records:
                shard.last_read = records[-1]["dynamodb"]["SequenceNumber"]
            shard.pending.extend(self._lambda_shaped(record) for record in records)
            if not records:
                break
        if shard.iterator is None and not shard.pending:
            shard.done = True
        return shard.pending[: self.batch_size]

    def deliver(self, shard: _Shard, batch: list[dict[str, Any]]) -> int:
        try:
            answer = self.handler({"Records": batch}, None) or {}
            failed = [item["itemIdentifier"] for item in answer.get("batchItemFailures", [])]
        except Exception:
            log.exception("stream handler of %s failed on a batch", self.table)
            failed = [batch[0]["dynamodb"]["SequenceNumber"]]
        if not failed:
            self._done(shard, batch, len(batch))
            shard.attempts = 0
            return len(batch)
        lowest = min(failed, key=position_key)
        index = next(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] == lowest)
        self._done(shard, batch, index)  # the records before the failure are done
        shard.attempts += 1
        if shard.attempts >= MAX_ATTEMPTS:
            log.error(
                "stream %s: record %s failed %d times; skipped", self.table, lowest, MAX_ATTEMPTS
            )
            self._done(shard, batch[index:], 1)
            shard.attempts = 0
        return index

    def _done(self, shard: _Shard, batch: list[dict[str, Any]], count: int) -> None:
        """The batch's first `count` records are handled: drop them, move the checkpoint."""
        if not count:
            return
        last = position_key(batch[count - 1]["dynamodb"]["SequenceNumber"])
        # Drop by position, not by count: another thread draining the same stream (the
        # exactly-once race test) may have dropped some of them already.
        while (
            shard.pending and position_key(shard.pending[0]["dynamodb"]["SequenceNumber"]) <= last
        ):
            del shard.pending[0]
        handled = self.handled.get(shard.shard_id)
        if handled is None or position_key(handled) < last:
            self.handled[shard.shard_id] = batch[count - 1]["dynamodb"]["SequenceNumber"]
            _save_positions()

    def _open_shards(self) -> list[_Shard]:
        if self.shards and not any(shard.done for shard in self.shards.values()):
            return list(self.shards.values())  # a closed shard is when children may appear
        described = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]
        for raw in described["Shards"]:
            shard_id = raw["ShardId"]
            if shard_id not in self.shards:
                shard = _Shard(shard_id, last_read=self.handled.get(shard_id, ""))
                shard.iterator = self._iterator(shard)
                self.shards[shard_id] = shard
        return [shard for shard in self.shards.values() if not shard.done]

    def _iterator(self, shard: _Shard) -> str:
        where: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if shard.last_read:
            where = {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "SequenceNumber": shard.last_read,
            }
        try:
            answer = self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard.shard_id, **where
            )
        except self.client.exceptions.ClientError as error:
            if _code(error) != "TrimmedDataAccessException":
                raise
            # The last record handled is older than the stream keeps (a restart after a day):
            # what followed it is partly gone too, so start from the oldest record still there.
            log.warning(
                "stream %s: shard %s resumed from its oldest record", self.table, shard.shard_id
            )
            answer = self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
            )
        return str(answer["ShardIterator"])

    def _lambda_shaped(self, record: dict[str, Any]) -> dict[str, Any]:
        change = dict(record["dynamodb"])
        created = change.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            change["ApproximateCreationDateTime"] = created.timestamp()
        return {**record, "dynamodb": change, "eventSourceARN": self.arn}


def _code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


class LocalStreams:
    """Every streamed table of a stage, each with its handler; `drain()` runs them until no
    record is left (handlers that write to streamed tables produce more records)."""

    def __init__(self, dynamodb: Any, streams: Any, handlers: Mapping[str, Handler]) -> None:
        self.streams: list[LocalStream] = []
        for table, handler in handlers.items():
            arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
            self.streams.append(LocalStream(streams, table, arn, handler))

    def poll(self) -> int:
        return sum(stream.poll() for stream in self.streams)

    def drain(self, max_rounds: int = 100) -> int:
        total = 0
        for _ in range(max_rounds):
            handled = self.poll()
            total += handled
            if not handled:
                return total
        raise RuntimeError(f"streams still busy after {max_rounds} rounds")
