"""The test harness itself: tables shared by a worker's tests are empty again after each test,
whichever way the test wrote, and the no-Scan guard still holds for code under test."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pynamodb.transactions import TransactWrite

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.eventlog.local import LocalStream
from chalicelib.storage.models import Contact, Counter, Identity
from chalicelib.storage.tables import dynamodb_client
from tests.shared_tables import SharedTables

NOW = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def test_every_kind_of_write_is_deleted_after_the_test(
    settings: Settings, shared_tables: SharedTables
) -> None:
    Contact("c-put", first_seen=NOW).save()  # PutItem
    Counter("figures", "orders").update(actions=[Counter.value.add(1)])  # UpdateItem (upsert)
    with Contact.batch_write() as batch:  # BatchWriteItem
        for n in range(30):
            batch.save(Contact(f"c-batch-{n}", first_seen=NOW))
    with TransactWrite(connection=wiring.app().connection) as transaction:
        transaction.save(
            Identity(
                "email:a@example.com",
                contact_id="c-put",
                kind="email",
                value="a@example.com",
                created_at=NOW,
            )
        )
    assert sum(len(keys) for keys in shared_tables.written.values()) == 33

    shared_tables.empty()

    assert shared_tables.leftovers() == {}
    assert shared_tables.written == {}


def test_writes_from_another_process_are_found_by_a_scan(
    settings: Settings, shared_tables: SharedTables
) -> None:
    script = (
        "from chalicelib import wiring; from chalicelib.storage.models import Contact; "
        "wiring.storage(); Contact('c-elsewhere').save()"
    )
    subprocess.run([sys.executable, "-c", script], check=True)  # the same environment
    assert Contact.get("c-elsewhere").contact_id == "c-elsewhere"
    assert shared_tables.written == {}  # not seen: it went through another process's botocore

    shared_tables.empty()

    assert shared_tables.leftovers() == {}


def test_code_under_test_still_may_not_scan(settings: Settings) -> None:
    with pytest.raises(AssertionError, match="Scan called on test-"):
        list(Contact.scan())


@pytest.fixture
def streamed_table(settings: Settings, shared_tables: SharedTables) -> Iterator[str]:
    """A table with a stream, cleaned like the stage's own (the event log's table has one)."""
    name = settings.table_name("streamed")
    client = dynamodb_client(settings)
    created = client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    shared_tables.key_names[name] = ("pk",)
    shared_tables.streamed[name] = created["TableDescription"]["LatestStreamArn"]
    try:
        yield name
    finally:
        del shared_tables.key_names[name]
        del shared_tables.streamed[name]
        client.delete_table(TableName=name)


def test_the_next_tests_stream_worker_sees_none_of_this_tests_records(
    settings: Settings, shared_tables: SharedTables, streamed_table: str
) -> None:
    client = dynamodb_client(settings)
    streams = dynamodb_client_for_streams(settings)
    client.put_item(TableName=streamed_table, Item={"pk": {"S": "a"}})
    arn = client.describe_table(TableName=streamed_table)["Table"]["LatestStreamArn"]
    assert records(streams, arn) == ["INSERT"]

    shared_tables.empty()

    handed: list[str] = []
    worker = LocalStream(
        streams,
        streamed_table,
        arn,
        lambda event, context: handed.extend(r["eventName"] for r in event["Records"]),
    )
    assert worker.poll() == 0  # neither the test's INSERT nor the clean-up's REMOVE
    client.put_item(TableName=streamed_table, Item={"pk": {"S": "b"}})
    assert worker.poll() == 1 and handed == ["INSERT"]
    # The same stream: DynamoDB Local slows down with every stream a table has had.
    assert client.describe_table(TableName=streamed_table)["Table"]["LatestStreamArn"] == arn
    shared_tables.empty()
    assert shared_tables.leftovers() == {}


def dynamodb_client_for_streams(settings: Settings) -> object:
    import botocore.session

    return botocore.session.get_session().create_client(
        "dynamodbstreams",
        region_name=settings.region,
        endpoint_url=settings.dynamodb_endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def records(streams: object, arn: str) -> list[str]:
    found: list[str] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:  # type: ignore[attr-defined]
        iterator = streams.get_shard_iterator(  # type: ignore[attr-defined]
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        found += [r["eventName"] for r in streams.get_records(ShardIterator=iterator)["Records"]]  # type: ignore[attr-defined]
    return found


def test_each_test_starts_on_empty_tables(shared_tables: SharedTables, settings: Settings) -> None:
    """Runs after the tests above (file order) wrote the same keys on this worker's tables."""
    assert shared_tables.leftovers() == {}
