"""Reading an SQS queue once through: each message handed over once per pass, however often
SQS returns it. Shared by the sweeper's replay of dead-lettered wake-ups
(chalicelib.runtime.dead_wakeups) and `autofunnel dlq`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def each_once(
    sqs: Any, url: str, limit: int, hide_seconds: int, **receive: Any
) -> Iterator[dict[str, Any]]:
    """Up to `limit` messages, each hidden `hide_seconds` while the caller handles it (deletes
    or releases it); one SQS returns again in the same pass is released at once. The pass ends
    when a receive brings nothing new."""
    seen: set[str] = set()
    while len(seen) < limit:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            VisibilityTimeout=hide_seconds,
            WaitTimeSeconds=0,
            **receive,
        ).get("Messages", [])
        fresh = [message for message in batch if message["MessageId"] not in seen]
        for again in (message for message in batch if message["MessageId"] in seen):
            release(sqs, url, again["ReceiptHandle"])
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message


def release(sqs: Any, url: str, receipt: str) -> None:
    """Visible again at once: to the next pass, to an operator's listing."""
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
