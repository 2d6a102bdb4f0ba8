"""GET /health: is the API up, and can it reach its tables?"""

from __future__ import annotations

from chalice.app import Blueprint
from pynamodb.exceptions import PynamoDBException

from chalicelib import wiring
from chalicelib.api.errors import json_errors, json_response
from chalicelib.config import VERSION
from chalicelib.storage.models import Contact

blueprint = Blueprint(__name__)


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
        body.update(status="degraded", dynamodb=f"unreachable: {error.msg}")
        return json_response(body, 503)
    return json_response(body)
