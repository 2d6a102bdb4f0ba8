"""The dead-letter queues of a stage: list what is in them, and redrive it.

- `wakeups` (`autofunnel-{stage}-wakeup-dlq`): wake-ups EventBridge Scheduler could not deliver
  to the step runner. The message body is the schedule's input; redriving invokes the step
  runner with it (a wake-up is guarded by the enrollment's token: a late or repeated one is a
  no-op, never a second send). The sweeper replays this queue itself every run
  (chalicelib.runtime.dead_wakeups): what stays in it failed again.
- `worker` (`autofunnel-{stage}-worker-failures`): batches the stream workers gave up on (the
  event log's `worker`, the enrollments' `step_tallies`). The message names the batch (stream,
  shard and sequence range), not its records: redriving reads the records back from the stream
  (kept 24 hours) and invokes the function of that stream with them.

A message is deleted only once its redrive succeeded; anything else stays for the next look.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib import letters

QUEUES = {"wakeups": "wakeup-dlq", "worker": "worker-failures"}
FUNCTIONS = {"wakeups": "step_runner", "worker": "worker"}
STREAM_FUNCTIONS = {"enrollments": "step_tallies"}  # by table; any other stream: `worker`
LOOK_SECONDS = 30  # a listed message is hidden this long, then released at once


@dataclass
class Letter:
    queue: str
    message_id: str
    receipt: str
    body: dict[str, Any]
    attributes: dict[str, str]
    sent_at: str
    receive_count: int

    def summary(self) -> str:
        if self.queue == "wakeups":
            error = self.attributes.get("ERROR_CODE") or self.attributes.get("ERROR_MESSAGE", "")
            what = ", ".join(f"{k}={v}" for k, v in sorted(self.body.items()) if _short(v))
            return f"wake-up {what} ({error or 'no error recorded'})"
        batch = self.body.get("DDBStreamBatchInfo", {})
        condition = self.body.get("requestContext", {}).get("condition", "")
        return (
            f"{batch.get('batchSize', '?')} records of shard {batch.get('shardId', '?')}"
            f" from {batch.get('startSequenceNumber', '?')} to"
            f" {batch.get('endSequenceNumber', '?')} ({condition})"
        )


def queue_url(sqs: Any, stage: str, queue: str) -> str:
    return str(sqs.get_queue_url(QueueName=f"autofunnel-{stage}-{QUEUES[queue]}")["QueueUrl"])


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0))


def peek(sqs: Any, url: str, queue: str, limit: int) -> list[Letter]:
    """Up to `limit` messages, released again right after reading (nothing is consumed)."""
    found = list(_receive(sqs, url, queue, limit))
    for letter in found:
        letters.release(sqs, url, letter.receipt)
    return found


def redrive(
    stage: str,
    queue: str,
    sqs: Any,
    lambda_: Any,
    streams: Any,
    limit: int,
    echo: Callable[[str], None] = print,
) -> tuple[int, int]:
    """Redrive up to `limit` messages; returns (redriven, kept)."""
    url = queue_url(sqs, stage, queue)
    redriven = kept = 0
    for letter in _receive(sqs, url, queue, limit):
        try:
            payload = letter.body if queue == "wakeups" else _stream_batch(streams, letter.body)
            _invoke(lambda_, f"autofunnel-{stage}-{_function(queue, letter.body)}", payload)
        except RedriveError as error:
            kept += 1
            echo(f"kept {letter.message_id}: {error}")
            letters.release(sqs, url, letter.receipt)
            continue
        sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt)
        redriven += 1
        echo(f"redrove {letter.message_id}: {letter.summary()}")
    return redriven, kept


class RedriveError(RuntimeError):
    """This message cannot be redriven now; it stays in the queue."""


def _receive(sqs: Any, url: str, queue: str, limit: int) -> Iterator[Letter]:
    for message in letters.each_once(
        sqs,
        url,
        limit,
        LOOK_SECONDS,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ):
        try:
            body = json.loads(message["Body"])
        except json.JSONDecodeError:
            body = {"raw": message["Body"]}
        attributes = {
            name: value.get("StringValue", "")
            for name, value in message.get("MessageAttributes", {}).items()
        }
        system = message.get("Attributes", {})
        yield Letter(
            queue=queue,
            message_id=message["MessageId"],
            receipt=message["ReceiptHandle"],
            body=body if isinstance(body, dict) else {"raw": body},
            attributes=attributes,
            sent_at=system.get("SentTimestamp", ""),
            receive_count=int(system.get("ApproximateReceiveCount", 0)),
        )


def _stream_batch(streams: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The batch the worker gave up on, read back from the stream as Lambda delivers it."""
    batch = body.get("DDBStreamBatchInfo")
    if not batch:
        raise RedriveError("not a stream failure record (no DDBStreamBatchInfo)")
    start, end = int(batch["startSequenceNumber"]), int(batch["endSequenceNumber"])
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch["streamArn"],
            ShardId=batch["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch["startSequenceNumber"],
        )["ShardIterator"]
    except streams.exceptions.ClientError as error:
        raise RedriveError(
            f"the stream no longer has this batch ({error}); its events are still in the"
            " events table"
        ) from error
    records: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page.get("Records", []):
            if int(record["dynamodb"]["SequenceNumber"]) > end:
                return _event(records, batch["streamArn"])
            if int(record["dynamodb"]["SequenceNumber"]) >= start:
                records.append(record)
        if not page.get("Records"):
            break
        iterator = page.get("NextShardIterator")
    if not records:
        raise RedriveError("the stream returned none of the batch's records")
    return _event(records, batch["streamArn"])


def _function(queue: str, body: dict[str, Any]) -> str:
    """The function a letter goes back to: a stream batch's, by the table of its stream."""
    arn = str((body.get("DDBStreamBatchInfo") or {}).get("streamArn") or "")
    table = arn.partition(":table/")[2].split("/", 1)[0]
    return STREAM_FUNCTIONS.get(table.rsplit("-", 1)[-1], FUNCTIONS[queue])


def _event(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    return {"Records": [{**record, "eventSourceARN": stream_arn} for record in records]}


def _invoke(lambda_: Any, function: str, payload: dict[str, Any]) -> None:
    answer = lambda_.invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps(payload, default=str).encode(),
    )
    body = answer["Payload"].read() if hasattr(answer.get("Payload"), "read") else b""
    if answer.get("FunctionError"):
        raise RedriveError(f"{function} failed: {body[:300]!r}")
    try:
        result = json.loads(body or b"{}")
    except json.JSONDecodeError:
        return
    if isinstance(result, dict) and result.get("batchItemFailures"):
        raise RedriveError(f"{function} reported failed records: {result['batchItemFailures']}")


def _short(value: Any) -> bool:
    return isinstance(value, str | int | float) and len(str(value)) <= 64
