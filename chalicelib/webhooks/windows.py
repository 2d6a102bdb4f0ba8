"""Meta's 24-hour window: free-form messages may go out until 24 hours after the person's last
message. Each inbound message moves Identity.window_until forward (never back: a late or
replayed delivery of an older message changes nothing)."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.storage.models import Identity


def extend(identity: str, until: datetime) -> bool:
    """True when the window moved; one conditional UpdateItem."""
    try:
        Identity(identity).update(
            actions=[Identity.window_until.set(until)],
            condition=Identity.identity.exists()
            & (Identity.window_until.does_not_exist() | (Identity.window_until < until)),
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
