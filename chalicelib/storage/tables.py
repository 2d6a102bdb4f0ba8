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
        if name in existing:
            continue
        properties = table_properties(model)
        ttl = properties.pop("TimeToLiveSpecification", None)
        if "StreamSpecification" in properties:  # CloudFormation's shape has no StreamEnabled
            properties["StreamSpecification"] = {
                "StreamEnabled": True,
                **properties["StreamSpecification"],
            }
        client.create_table(TableName=name, **properties)
        client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
        )
        if ttl:
            client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        created.append(name)
    return created


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
