"""Create the tables of a stage from their one definition (local runs and tests)."""

from __future__ import annotations

from typing import Any

import botocore.session

from chalicelib.config import Settings
from chalicelib.storage.models import ALL_MODELS
from chalicelib.storage.schema import logical_name, table_properties


def dynamodb_client(settings: Settings, service: str = "dynamodb") -> Any:
    session = botocore.session.get_session()
    credentials: dict[str, str] = {}
    if settings.dynamodb_endpoint:
        credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    return session.create_client(
        service,
        region_name=settings.region,
        endpoint_url=settings.dynamodb_endpoint or None,
        **credentials,
    )


def streams_client(settings: Settings) -> Any:
    """DynamoDB Streams (GetRecords...): the same endpoint as the tables locally."""
    return dynamodb_client(settings, "dynamodbstreams")


def create_tables(settings: Settings) -> list[str]:
    """Create every missing table (and its TTL); returns the names it created."""
    client = dynamodb_client(settings)
    existing = set(_all_table_names(client))
    created = []
    for model in ALL_MODELS:
        name = settings.table_name(logical_name(model))
        properties = table_properties(model)
        ttl = properties.pop("TimeToLiveSpecification", None)
        if "StreamSpecification" in properties:  # CloudFormation's shape has no StreamEnabled
            properties["StreamSpecification"] = {
                "StreamEnabled": True,
                **properties["StreamSpecification"],
            }
        if name in existing:
            _add_stream(client, name, properties.get("StreamSpecification"))
            continue
        client.create_table(TableName=name, **properties)
        client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
        )
        if ttl:
            client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        created.append(name)
    return created


def _add_stream(client: Any, name: str, stream: dict[str, Any] | None) -> None:
    """A table from before its stream (a `make run` data folder): the stream added in place, as
    CloudFormation does to a deployed stage's table."""
    if stream is None:
        return
    table = client.describe_table(TableName=name)["Table"]
    if not table.get("StreamSpecification", {}).get("StreamEnabled"):
        client.update_table(TableName=name, StreamSpecification=stream)


def delete_tables(settings: Settings) -> None:
    client = dynamodb_client(settings)
    existing = set(_all_table_names(client))
    for model in ALL_MODELS:
        name = settings.table_name(logical_name(model))
        if name in existing:
            client.delete_table(TableName=name)


def _all_table_names(client: Any) -> list[str]:
    names: list[str] = []
    for page in client.get_paginator("list_tables").paginate():
        names.extend(page["TableNames"])
    return names
