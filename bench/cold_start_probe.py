"""One cold start, as Lambda runs it: import the app, answer one `POST /v1/track` through the
Chalice app object (API Gateway's proxy event); with `--worker`, then hand the event log's new
stream records to the stream worker (its first funnel evaluation included), as the `worker`
Lambda would (read from DynamoDB Local's stream).

Standalone on purpose (stdlib only): it runs in a fresh interpreter, against the source tree
(`bench/bench_startup.py`) or an unpacked deployment package with nothing else on the path but
the runtime's SDK (`tests/deploy/test_package.py`), the way Lambda puts `/var/task` before
`/var/runtime`:

    python -I -S bench/cold_start_probe.py --path /tmp/unpacked --path /tmp/runtime USER_ID

Prints one JSON line: the milliseconds spent importing and answering, the status and the body.
The environment carries the settings (tables, write key), as the function's environment does.
"""

from __future__ import annotations

import argparse
import json
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


class LambdaContext:
    function_name = "autofunnel-bench-api_handler"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:" + function_name
    aws_request_id = "cold-start-probe"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def main() -> None:
    started = time.perf_counter()
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", action="append", default=[], help="prepended to sys.path")
    parser.add_argument("--write-key", default="bench-key")
    parser.add_argument("--worker", action="store_true", help="then run the stream worker")
    parser.add_argument("user_id")
    arguments = parser.parse_args()
    sys.path[:0] = arguments.path
    from app import app  # what Lambda does first, on every cold start

    imported = time.perf_counter()
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
    answer = app(proxy_event("/v1/track", cart, arguments.write_key), LambdaContext())
    answered = time.perf_counter()
    result = {
        "import_ms": round((imported - started) * 1000, 1),
        "request_ms": round((answered - imported) * 1000, 1),
        "status": answer["statusCode"],
        "body": answer["body"],
    }
    if arguments.worker:
        from chalicelib import wiring

        result["worker_records"] = wiring.app().drain()
        result["worker_ms"] = round((time.perf_counter() - answered) * 1000, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
