"""One cold start, as Lambda runs it: import the app, answer one `POST /v1/track` through the
Chalice app object (API Gateway's proxy event); with `--worker`, then hand the records the
request added to the event log's stream to the stream worker in one batch (its first funnel
evaluation included), as the `worker` Lambda's first invocation would (read from DynamoDB
Local's stream; older records are not replayed).

Standalone on purpose (stdlib only): it runs in a fresh interpreter, against the source tree
(`bench/bench_startup.py`) or an unpacked deployment package with nothing else on the path but
the runtime's SDK (`tests/deploy/test_package.py`), the way Lambda puts `/var/task` before
`/var/runtime`:

    python -I -S bench/cold_start_probe.py --path /tmp/unpacked --path /tmp/runtime USER_ID

Prints one JSON line: the milliseconds (wall and CPU) spent importing, answering and in the
worker, the status and the body; with `--worker`, the top-level packages loaded by then.
The environment carries the settings (tables, write key), as the function's environment does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid


def proxy_event(path: str, body: dict[str, object], write_key: str) -> dict[str, object]:
    """What API Gateway's REST proxy integration hands the function."""
    import base64

    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {
        "Content-Type": "application/json",
        "Host": "api.example.test",
        "Authorization": auth,
    }
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": "POST",
            "path": f"/api{path}",
            "stage": "api",
            "requestId": str(uuid.uuid4()),
            "domainName": "api.example.test",
            "identity": {"sourceIp": "203.0.113.9", "userAgent": "cold-start-probe"},
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


class StreamTail:
    """The event log's stream from the moment it is made: `records()` reads what was appended
    since, shaped as the worker Lambda's event source mapping hands it over."""

    def __init__(self) -> None:
        from chalicelib import wiring
        from chalicelib.storage.models import Event
        from chalicelib.storage.tables import dynamodb_client, streams_client

        settings = wiring.storage()
        self.client = streams_client(settings)
        table = dynamodb_client(settings).describe_table(TableName=Event.Meta.table_name)
        self.arn = table["Table"]["LatestStreamArn"]
        self.start = {shard: self._iterator(shard, "LATEST") for shard in self._shards()}

    def records(self) -> list[dict[str, object]]:
        found = []
        for shard in self._shards():
            iterator: str | None = self.start.get(shard) or self._iterator(shard, "TRIM_HORIZON")
            while iterator:
                try:
                    response = self.client.get_records(ShardIterator=iterator, Limit=1000)
                except self.client.exceptions.TrimmedDataAccessException:
                    # DynamoDB Local trims a LATEST iterator made on an empty shard: all is new
                    iterator = self._iterator(shard, "TRIM_HORIZON")
                    self.start[shard] = iterator
                    continue
                found += [self._shaped(record) for record in response.get("Records") or []]
                iterator = response.get("NextShardIterator") if response.get("Records") else None
        return found

    def _shards(self) -> list[str]:
        described = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]
        return [shard["ShardId"] for shard in described["Shards"]]

    def _iterator(self, shard: str, kind: str) -> str:
        found = self.client.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard, ShardIteratorType=kind
        )
        return str(found["ShardIterator"])

    def _shaped(self, record: dict[str, object]) -> dict[str, object]:
        change = dict(record["dynamodb"])  # type: ignore[call-overload]
        created = change.get("ApproximateCreationDateTime")
        if hasattr(created, "timestamp"):  # botocore parses it; Lambda hands epoch seconds
            change["ApproximateCreationDateTime"] = created.timestamp()
        return {**record, "dynamodb": change, "eventSourceARN": self.arn}


class LambdaContext:
    function_name = "autofunnel-bench-api_handler"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:" + function_name
    aws_request_id = "cold-start-probe"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


STOPS = ("imported", "before-batch", "after-batch")


def stop_at(point: str, stop: str | None) -> None:
    """End the process at `point` if asked (`--stop`): bench_startup.py counts the instructions
    of one part of a cold start as the difference of two such probes."""
    if point == stop:
        sys.stdout.flush()
        os._exit(0)


def main() -> None:
    started, started_cpu = time.perf_counter(), time.process_time()
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", action="append", default=[], help="prepended to sys.path")
    parser.add_argument("--write-key", default="bench-key")
    parser.add_argument("--worker", action="store_true", help="then run the stream worker")
    parser.add_argument(
        "--stop",
        choices=STOPS,
        help="end the process there, with no teardown (instruction counts of one part)",
    )
    parser.add_argument("user_id")
    arguments = parser.parse_args()
    sys.path[:0] = arguments.path
    from app import app  # what Lambda does first, on every cold start

    stop_at("imported", arguments.stop)

    imported, imported_cpu = time.perf_counter(), time.process_time()
    result: dict[str, object] = {
        "import_ms": round((imported - started) * 1000, 1),
        "import_cpu_ms": round((imported_cpu - started_cpu) * 1000, 1),
    }
    tail = StreamTail() if arguments.worker else None  # (not timed: the harness's own reads)
    cart = {
        "userId": arguments.user_id,
        "event": "cart_updated",
        "messageId": str(uuid.uuid4()),
        "properties": {
            "items_count": 2,
            "total": 120.0,
            "currency": "EUR",
            "cart_url": "https://shop.example/cart/1",
            "items": [{"name": "Linen shirt", "price": 70.0}],
        },
        "context": {"traits": {"email": f"{arguments.user_id}@example.com"}},
    }
    asked, asked_cpu = time.perf_counter(), time.process_time()
    answer = app(proxy_event("/v1/track", cart, arguments.write_key), LambdaContext())
    answered, answered_cpu = time.perf_counter(), time.process_time()
    result["request_ms"] = round((answered - asked) * 1000, 1)
    result["request_cpu_ms"] = round((answered_cpu - asked_cpu) * 1000, 1)
    result["status"] = answer["statusCode"]
    result["body"] = answer["body"]
    if tail is not None:
        from chalicelib import wiring

        batch = tail.records()
        stop_at("before-batch", arguments.stop)
        handed, handed_cpu = time.perf_counter(), time.process_time()
        wiring.app().handle_events({"Records": batch})  # the worker Lambda's first invocation
        stop_at("after-batch", arguments.stop)
        result["worker_records"] = len(batch)
        result["worker_ms"] = round((time.perf_counter() - handed) * 1000, 1)
        result["worker_cpu_ms"] = round((time.process_time() - handed_cpu) * 1000, 1)
        # the worker reads stored funnels without pydantic (validation is where they are written)
        result["worker_loaded"] = sorted({name.split(".")[0] for name in sys.modules})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
