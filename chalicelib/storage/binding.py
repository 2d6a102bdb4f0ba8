"""Point the PynamoDB models at one stage's tables (and at DynamoDB Local when configured).

Every model shares one PynamoDB connection, so the container creates one botocore client: left
to itself PynamoDB gives each table a session and a client of its own, and each session parses
botocore's service and endpoint JSON again (about 15 ms per client, 200 ms per session, paid by
every cold start).
"""

from __future__ import annotations

from datetime import timedelta

from pynamodb.connection import Connection
from pynamodb.models import Model

from chalicelib.config import Settings
from chalicelib.storage.connection import SharedConnection
from chalicelib.storage.models import ALL_MODELS, Event

# The table_name each model is declared with is its logical name; bind() prefixes it per stage.
LOGICAL_NAMES: dict[type[Model], str] = {model: model.Meta.table_name for model in ALL_MODELS}
MAX_RETRY_ATTEMPTS = 3
_bound: Connection | None = None


def bind(settings: Settings) -> Connection:
    """Bind every model to `settings`' tables; returns the connection they share (transactions
    use it too)."""
    global _bound
    # DynamoDB Local accepts any credentials; fixed ones keep a dev machine's real AWS profile
    # out of local runs.
    local = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    shared = SharedConnection(
        region=settings.region,
        host=settings.dynamodb_endpoint or None,
        max_retry_attempts=MAX_RETRY_ATTEMPTS,
        **(local if settings.dynamodb_endpoint else {}),
    )
    for model, logical_name in LOGICAL_NAMES.items():
        meta = model.Meta
        meta.table_name = settings.table_name(logical_name)
        meta.region = settings.region
        meta.host = settings.dynamodb_endpoint or None
        if settings.dynamodb_endpoint:
            meta.aws_access_key_id = local["aws_access_key_id"]
            meta.aws_secret_access_key = local["aws_secret_access_key"]
        model._connection = None  # drop a connection bound to the previous settings
        table = model._get_connection()  # cheap: PynamoDB creates the client on the first call
        shared.add_meta_table(table.get_meta_table())
        table.connection = shared
    Event.retention = timedelta(days=settings.event_retention_days)
    _bound = shared
    return shared


def connection() -> Connection:
    """The connection the models were last bound to."""
    if _bound is None:
        raise RuntimeError("storage is not bound yet: call bind(settings) first")
    return _bound
