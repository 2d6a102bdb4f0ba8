"""Wake-ups EventBridge Scheduler dead-lettered, replayed by every sweeper run.

A wait due more than 15 minutes later lives only in its schedule (it has no `by_wake` entry for
the sweeper to find). When Scheduler cannot invoke the step runner through its retries (the
function throttled or failing), the wake-up goes to the dead-letter queue, and unless someone
replays it the contact's next step never runs. The sweeper replays what the queue holds: a
wake-up acts only when its due time and token are still the enrollment's, so a stale or
repeated one changes nothing (never a second send). One that fails again is released at once,
for the next run and for `autofunnel dlq list`; the queue's alarm keeps the operator told.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import letters

log = logging.getLogger(__name__)

MAX_PER_RUN = 1000
HIDE_SECONDS = 60  # a received letter stays hidden while it is replayed


@dataclass(frozen=True)
class Replayed:
    replayed: int  # handled (acted on, or found stale) and deleted
    kept: int  # failed again, or not a wake-up: left in the queue


def queue_url(sqs: Any, queue_arn: str) -> str:
    """arn:aws:sqs:REGION:ACCOUNT:NAME -> the queue's URL."""
    *_, account, name = queue_arn.split(":")
    answer = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
    return str(answer["QueueUrl"])


def replay(
    sqs: Any,
    url: str,
    wake: Callable[[dict[str, Any]], None],
    time_left: Callable[[], float],
    limit: int = MAX_PER_RUN,
) -> Replayed:
    """Hand each letter's wake-up to `wake` (the runtime's handle_wakeup) while time is left;
    each letter is looked at once per run."""
    replayed = kept = 0
    for message in letters.each_once(sqs, url, limit, HIDE_SECONDS):
        receipt = message["ReceiptHandle"]
        if time_left() <= 0:
            letters.release(sqs, url, receipt)  # the rest waits out HIDE_SECONDS
            break
        try:
            wake(_wakeup(message["Body"]))
        except Exception:
            log.exception("dead-lettered wake-up %s failed again: kept", message["MessageId"])
            letters.release(sqs, url, receipt)
            kept += 1
            continue
        sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)
        replayed += 1
    if replayed or kept:
        log.warning("dead-lettered wake-ups replayed", extra={"replayed": replayed, "kept": kept})
    return Replayed(replayed, kept)


def _wakeup(body: str) -> dict[str, Any]:
    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise ValueError(f"not a wake-up: {body[:100]!r}")
    return payload
