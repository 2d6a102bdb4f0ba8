"""DynamoDB stream records as Lambda hands them over, and the partial-batch answer.

A batch comes from one shard, in order. The answer names the failed records
(`{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}]}`): the lowest failed record and
everything after it are delivered again, so every handler must be idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

INSERT, MODIFY, REMOVE = "INSERT", "MODIFY", "REMOVE"

# A batch carries a fixed cost (its tally and that tally's fold: a write each, and an
# invocation), shared by its records: a busy site fills batches of a thousand within the window
# (Lambda also stops a batch at 6 MB), a quiet one sends what the window gathered. The worker
# hands back, unstarted, what its invocation's time does not allow (worker.handler).
BATCH_SIZE = 1000
BATCHING_WINDOW_SECONDS = 5


@dataclass(frozen=True)
class StreamRecord:
    event_name: str  # INSERT | MODIFY | REMOVE
    sequence: str  # SequenceNumber: increases along a shard
    event_id: str  # unique per record
    table: str  # the table's name (from the stream ARN)
    keys: Mapping[str, Any]
    new: Mapping[str, Any] | None  # DynamoDB JSON of the item after the change
    old: Mapping[str, Any] | None  # ... and before it

    @property
    def keys_subject(self) -> str:
        """The event log's partition key (its `subject`) of the changed item."""
        return str((self.keys.get("subject") or {}).get("S") or "")


def records_of(event: Mapping[str, Any]) -> list[StreamRecord]:
    records = []
    for raw in event.get("Records") or ():
        change = raw.get("dynamodb") or {}
        records.append(
            StreamRecord(
                event_name=str(raw.get("eventName")),
                sequence=str(change.get("SequenceNumber")),
                event_id=str(raw.get("eventID")),
                table=table_of(str(raw.get("eventSourceARN") or "")),
                keys=change.get("Keys") or {},
                new=change.get("NewImage"),
                old=change.get("OldImage"),
            )
        )
    return records


def table_of(stream_arn: str) -> str:
    """arn:aws:dynamodb:region:account:table/NAME/stream/LABEL -> NAME."""
    _, _, rest = stream_arn.partition(":table/")
    return rest.split("/", 1)[0]


def position_key(sequence: str) -> str:
    """Sequence numbers are decimal strings of varying length: padded, they sort as numbers."""
    return sequence.rjust(40, "0")


def failures(sequences: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """The partial-batch answer; Lambda retries from the lowest failed record on."""
    failed = sorted(set(sequences), key=position_key)
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
