"""One definition of each table, derived from the models, in CloudFormation's property shape.

Local creation (DynamoDB Local) and `infra/template.yaml` both come from `table_properties`,
so the deployed tables and the ones the tests run against cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from pynamodb.models import Model

from chalicelib.storage.binding import LOGICAL_NAMES
from chalicelib.storage.models import TTL_ATTRIBUTES


def table_properties(model: type[Model]) -> dict[str, Any]:
    """AttributeDefinitions, KeySchema, GSIs, billing and TTL of a model's table (no name)."""
    schema = model._get_schema()
    definitions = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    properties: dict[str, Any] = {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in sorted(definitions.items())
        ],
        "KeySchema": _key_schema(schema["key_schema"]),
    }
    indexes = sorted(schema.get("global_secondary_indexes", []), key=lambda i: i["index_name"])
    if indexes:
        properties["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index["index_name"],
                "KeySchema": _key_schema(index["key_schema"]),
                "Projection": {"ProjectionType": index["projection"]["ProjectionType"]},
            }
            for index in indexes
        ]
    view = getattr(model.Meta, "stream_view_type", None)
    if view:
        properties["StreamSpecification"] = {"StreamViewType": view}
    if model in TTL_ATTRIBUTES:
        properties["TimeToLiveSpecification"] = {
            "AttributeName": TTL_ATTRIBUTES[model],
            "Enabled": True,
        }
    return properties


def _key_schema(keys: list[dict[str, str]]) -> list[dict[str, str]]:
    order = {"HASH": 0, "RANGE": 1}
    return [
        {"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
        for k in sorted(keys, key=lambda k: order[k["KeyType"]])
    ]


def logical_name(model: type[Model]) -> str:
    return LOGICAL_NAMES[model]
