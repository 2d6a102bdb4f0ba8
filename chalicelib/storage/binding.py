"""Point the PynamoDB models at one stage's tables (and at DynamoDB Local when configured)."""

from __future__ import annotations

from datetime import timedelta

from pynamodb.models import Model

from chalicelib.config import Settings
from chalicelib.storage.models import ALL_MODELS, Event

# The table_name each model is declared with is its logical name; bind() prefixes it per stage.
LOGICAL_NAMES: dict[type[Model], str] = {model: model.Meta.table_name for model in ALL_MODELS}


def bind(settings: Settings) -> None:
    for model, logical_name in LOGICAL_NAMES.items():
        meta = model.Meta
        meta.table_name = settings.table_name(logical_name)
        meta.region = settings.region
        meta.host = settings.dynamodb_endpoint or None
        if settings.dynamodb_endpoint:
            # DynamoDB Local accepts any credentials; fixed ones keep a dev machine's real
            # AWS profile out of local runs.
            meta.aws_access_key_id = "local"
            meta.aws_secret_access_key = "local"
        model._connection = None  # drop a connection bound to the previous settings
    Event.retention = timedelta(days=settings.event_retention_days)
