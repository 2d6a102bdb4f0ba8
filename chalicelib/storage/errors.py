"""Storage failures as domain errors, so callers never handle botocore's exception zoo."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pynamodb.exceptions import PynamoDBException


class ConflictError(Exception):
    """A conditional write lost: someone else changed the item first, or it already exists."""


@contextmanager
def conflicts_as_domain_errors(what: str) -> Iterator[None]:
    try:
        yield
    except PynamoDBException as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise ConflictError(f"{what}: the item changed or already exists") from error
        if error.cause_response_code == "TransactionCanceledException" and any(
            reason is not None and reason.code == "ConditionalCheckFailed"
            for reason in getattr(error, "cancellation_reasons", None) or []
        ):
            raise ConflictError(f"{what}: a condition in the transaction failed") from error
        raise
