"""`autofunnel dlq`: list without consuming, redrive into the right function, keep what fails.
SQS and the events stream on moto; the function invocations through botocore's Stubber (moto
runs Lambda code only in Docker)."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from autofunnel import dlq

STAGE = "prod"
TABLE = f"dlq-test-{uuid.uuid4().hex[:8]}"
OPTIONS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        yield {
            name: boto3.client(name, **OPTIONS) for name in ("sqs", "dynamodb", "dynamodbstreams")
        }


def queue(sqs: Any, name: str) -> str:
    return sqs.create_queue(QueueName=f"autofunnel-{STAGE}-{dlq.QUEUES[name]}")["QueueUrl"]


def answer(payload: dict[str, Any], error: str | None = None) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    response: dict[str, Any] = {
        "StatusCode": 200,
        "Payload": StreamingBody(io.BytesIO(body), len(body)),
    }
    if error:
        response["FunctionError"] = error
    return response


def test_listing_consumes_nothing(aws: dict[str, Any]) -> None:
    url = queue(aws["sqs"], "wakeups")
    wakeup = {"enrollment": "e-1", "token": 3}
    aws["sqs"].send_message(
        QueueUrl=url,
        MessageBody=json.dumps(wakeup),
        MessageAttributes={
            "ERROR_CODE": {"DataType": "String", "StringValue": "Lambda.TooManyRequestsException"}
        },
    )
    first = dlq.peek(aws["sqs"], url, "wakeups", 10)
    second = dlq.peek(aws["sqs"], url, "wakeups", 10)
    assert [letter.body for letter in first] == [wakeup] == [letter.body for letter in second]
    assert "TooManyRequests" in first[0].summary() and "e-1" in first[0].summary()
    assert dlq.depth(aws["sqs"], url) == 1


def test_a_wakeup_is_redriven_to_the_step_runner_and_deleted(aws: dict[str, Any]) -> None:
    url = queue(aws["sqs"], "wakeups")
    for token in (1, 2):
        aws["sqs"].send_message(
            QueueUrl=url, MessageBody=json.dumps({"enrollment": "e", "token": token})
        )
    lambda_ = boto3.client("lambda", **OPTIONS)
    with Stubber(lambda_) as stub:
        for _ in range(2):
            stub.add_response(
                "invoke",
                answer({"status": "done"}),
                {
                    "FunctionName": f"autofunnel-{STAGE}-step_runner",
                    "InvocationType": "RequestResponse",
                    "Payload": pytest.importorskip("botocore.stub").ANY,
                },
            )
        redriven, kept = dlq.redrive(
            STAGE, "wakeups", aws["sqs"], lambda_, aws["dynamodbstreams"], 10, print
        )
        stub.assert_no_pending_responses()
    assert (redriven, kept) == (2, 0)
    assert dlq.depth(aws["sqs"], url) == 0


def test_a_failing_redrive_keeps_the_message(aws: dict[str, Any]) -> None:
    url = queue(aws["sqs"], "wakeups")
    aws["sqs"].send_message(QueueUrl=url, MessageBody=json.dumps({"enrollment": "e", "token": 1}))
    lambda_ = boto3.client("lambda", **OPTIONS)
    with Stubber(lambda_) as stub:
        stub.add_response("invoke", answer({"errorMessage": "boom"}, error="Unhandled"))
        messages: list[str] = []
        redriven, kept = dlq.redrive(
            STAGE, "wakeups", aws["sqs"], lambda_, aws["dynamodbstreams"], 10, messages.append
        )
    assert (redriven, kept) == (0, 1)
    assert "boom" in messages[0]
    assert len(dlq.peek(aws["sqs"], url, "wakeups", 10)) == 1


@pytest.mark.parametrize(
    ("table", "function"), [("events", "worker"), ("enrollments", "step_tallies")]
)
def test_a_failed_stream_batch_is_read_back_and_replayed_to_its_worker(
    aws: dict[str, Any], dynamodb: Any, table: str, function: str
) -> None:
    """The stream of DynamoDB Local (moto's stream API answers 'not yet implemented'). Both
    stream functions share the failure queue: a batch goes back to its stream's function."""
    name = f"{TABLE}-{table}"
    local = {**OPTIONS, "endpoint_url": dynamodb.endpoint}
    aws = {**aws, "dynamodb": boto3.client("dynamodb", **local)}
    aws["dynamodbstreams"] = boto3.client("dynamodbstreams", **local)
    created = aws["dynamodb"].create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "contact_id", "KeyType": "HASH"},
            {"AttributeName": "event_key", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "contact_id", "AttributeType": "S"},
            {"AttributeName": "event_key", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]
    stream_arn = created["LatestStreamArn"]
    for key in ("e1", "e2", "e3"):
        aws["dynamodb"].put_item(
            TableName=name,
            Item={"contact_id": {"S": "c1"}, "event_key": {"S": key}},
        )
    shard = aws["dynamodbstreams"].describe_stream(StreamArn=stream_arn)["StreamDescription"][
        "Shards"
    ][0]
    iterator = aws["dynamodbstreams"].get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = aws["dynamodbstreams"].get_records(ShardIterator=iterator)["Records"]
    sequence = [record["dynamodb"]["SequenceNumber"] for record in records]
    url = queue(aws["sqs"], "worker")
    failure = {
        "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": "arn:worker"},
        "DDBStreamBatchInfo": {
            "shardId": shard["ShardId"],
            "startSequenceNumber": sequence[1],
            "endSequenceNumber": sequence[2],
            "batchSize": 2,
            "streamArn": stream_arn,
        },
    }
    aws["sqs"].send_message(QueueUrl=url, MessageBody=json.dumps(failure))
    lambda_ = boto3.client("lambda", **OPTIONS)
    seen: list[dict[str, Any]] = []
    lambda_.meta.events.register(
        "provide-client-params.lambda.Invoke",
        lambda params, **_: seen.append(json.loads(params["Payload"])),
    )
    with Stubber(lambda_) as stub:
        stub.add_response(
            "invoke",
            answer({"batchItemFailures": []}),
            {
                "FunctionName": f"autofunnel-{STAGE}-{function}",
                "InvocationType": "RequestResponse",
                "Payload": pytest.importorskip("botocore.stub").ANY,
            },
        )
        redriven, kept = dlq.redrive(
            STAGE, "worker", aws["sqs"], lambda_, aws["dynamodbstreams"], 10, print
        )
    assert (redriven, kept) == (1, 0)
    (event,) = seen
    keys = [record["dynamodb"]["Keys"]["event_key"]["S"] for record in event["Records"]]
    assert keys == ["e2", "e3"]  # the failed batch, no more, no less
    assert all(record["eventSourceARN"] == stream_arn for record in event["Records"])
    aws["dynamodb"].delete_table(TableName=name)
