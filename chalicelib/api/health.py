"""GET /health: is the API up, and can it reach its tables?"""

from __future__ import annotations

import logging

from chalice.app import Blueprint
from pynamodb.exceptions import PynamoDBException

from chalicelib import wiring
from chalicelib.api.errors import json_errors, json_response
from chalicelib.config import VERSION
from chalicelib.storage.models import Contact

blueprint = Blueprint(__name__)
log = logging.getLogger(__name__)


@blueprint.route("/health", methods=["GET"])
@json_errors
def health():  # type: ignore[no-untyped-def]
    settings = wiring.storage()
    body = {"status": "ok", "version": VERSION, "stage": settings.stage, "dynamodb": "ok"}
    try:
        # A GetItem on an absent key: proves the table and our permissions with one cheap read.
        Contact.get("__health__")
    except Contact.DoesNotExist:
        pass
    except PynamoDBException as error:
        log.error("health: DynamoDB unreachable: %s", error)  # names tables: the log only
        body.update(status="degraded", dynamodb="unreachable")
        return json_response(body, 503)
    return json_response(body)
