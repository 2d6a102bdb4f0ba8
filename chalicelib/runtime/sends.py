"""A step's messages, written before the write that commits the step.

The step commit writes the enrollment (guarded by its version, carrying the step's figures); the
messages the step decided are put just before it, each under its deterministic id (the engine's
idempotency key), claimed ("sending", attempt 1) and stamped with the enrollment version the
step was decided on (`decided_on`). The commit names them on the enrollment
(`committed_sends`: "{step}:{visit}"). So a message record exists that no commit named when:

- the input lost the race for the enrollment (its transaction failed on the version): the
  winner may have decided otherwise, e.g. the order that converts a cart beats the reminder's
  wake-up;
- the input crashed between the put and the commit: its redelivery decides again and, deciding
  the same send, reuses the record (`put_before` stamps it anew).

Such a record is never sent and never counted: only the input whose commit names a message
sends it, frequency caps count only messages whose outcome a dispatcher recorded
(`Message.recorded_for`), and the sweeper sends a stuck message only when its enrollment names
it (`verdict`). It deletes the records that can no longer be committed: the enrollment moved on
to a newer version without naming them (a commit names only what it decided on the version it
replaces), or, with no enrollment to decide on, a day after they were written (redeliveries
stop within a day).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pynamodb.exceptions import DeleteError

from chalicelib.statuses import SENDING
from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.models import Contact, Enrollment, Message

UNDECIDED_FOR = timedelta(days=1)  # stream and scheduler redeliveries stop within a day
PUT_ATTEMPTS = 3  # a record the sweeper deleted between our put and our read: put again
MERGE_HOPS = 8


def send_name(message: Message) -> str:
    """ "{step}:{visit}": the part of its idempotency key that its enrollment names."""
    return str(message.idempotency_key).removeprefix(f"{message.enrollment_id}:")


def put_before(
    row: Enrollment, messages: Sequence[Message], decided_on: int, now: datetime
) -> list[Message]:
    """Write the step's claimed messages before its commit; returns the records to send once
    it commits (a crashed attempt's record, stamped anew at `now`, in place of ours). Raises
    ConflictError when a message is committed already: the step was decided on a stale read."""
    written = []
    for message in messages:
        # Stamped when written, not when decided: a paged job decides at its as-of time, which
        # may be minutes old, and the sweeper would take a send in flight for a stuck one.
        message.decided_on, message.created_at = decided_on, now
        written.append(_put(row, message, decided_on, now))
    return written


def _put(row: Enrollment, message: Message, decided_on: int, now: datetime) -> Message:
    for _ in range(PUT_ATTEMPTS):
        try:
            with conflicts_as_domain_errors(f"decide {message.message_id}"):
                message.save(condition=Message.message_id.does_not_exist())
            return message
        except ConflictError:
            pass
        try:
            found = Message.get(message.message_id, consistent_read=True)
        except Message.DoesNotExist:
            continue  # the sweeper deleted an orphan meanwhile
        if (
            found.recorded_for
            or found.status != SENDING
            or found.decided_on is None
            or send_name(found) in (row.committed_sends or ())
        ):
            raise ConflictError(f"{message.message_id} was committed already: a stale read")
        # A crashed attempt's, a losing racer's, or a concurrent duplicate's record: ours now.
        # Stamped with our version (the sweeper keeps it while the enrollment is on it) and the
        # time now (the sweeper would take a send in flight for an interrupted one by its
        # age, and a stamp it did not see stops its own send). The stamp leaves the record's
        # version alone: a dispatcher recording the send of a copy committed meanwhile must
        # not be turned away by it.
        try:
            with conflicts_as_domain_errors(f"reuse {message.message_id}"):
                Message._get_connection().update_item(
                    message.message_id,
                    actions=[
                        Message.decided_on.set(decided_on),
                        Message.created_at.set(now),
                    ],
                    condition=(Message.status == SENDING)
                    & Message.recorded_for.does_not_exist()
                    & (Message.decided_on == found.decided_on)
                    & (Message.created_at == found.created_at),
                )
        except ConflictError:
            continue  # deleted, stamped or sent meanwhile: look again
        found.decided_on, found.created_at = decided_on, now
        return found
    raise ConflictError(f"{message.message_id}: changed under us, over and over")


def verdict(message: Message, now: datetime) -> bool | None:
    """Whether the sweeper may send a stuck message written before its step's commit: True
    when its enrollment names it, False when it can never be committed (an orphan, to delete),
    None when its step may still commit (an input in flight, or one to be delivered again)."""
    if message.decided_on is None or message.recorded_for:
        return True  # written with its commit, or acted on since
    row, certain = _enrollment(message)
    if not certain:
        return None
    if row is not None and send_name(message) in (row.committed_sends or ()):
        return True
    if row is not None and int(row.version or 0) > int(message.decided_on):
        return False  # the version it was decided on was replaced without it
    if row is None and int(message.decided_on) > 0:
        return False  # its enrollment is gone (erased)
    if now - message.created_at >= UNDECIDED_FOR:
        return False
    return None


def drop_orphan(message: Message) -> bool:
    """Delete a record no commit named, unless an input stamped it anew meanwhile (to commit
    it) or a dispatcher acted on it."""
    try:
        message.delete(
            condition=(Message.status == SENDING)
            & Message.recorded_for.does_not_exist()
            & (Message.decided_on == message.decided_on)
            & (Message.created_at == message.created_at)
        )
    except DeleteError:
        return False
    return True


def _enrollment(message: Message) -> tuple[Enrollment | None, bool]:
    """Its enrollment, followed through merges (which move it to the survivor), and whether
    the answer is certain (False: too many merges to follow; the sweeper then keeps it)."""
    key, contact_id = str(message.enrollment_key or ""), message.contact_id
    for _ in range(MERGE_HOPS):
        row = _find(contact_id, key, str(message.enrollment_id or ""))
        if row is not None:
            return row, True
        try:
            survivor = Contact.get(contact_id, consistent_read=True).merged_into
        except Contact.DoesNotExist:
            return None, True
        if not survivor:
            return None, True
        contact_id = survivor
    return None, False


def _find(contact_id: str, key: str, enrollment_id: str) -> Enrollment | None:
    try:
        row = Enrollment.get(contact_id, key, consistent_read=True)
        if row.enrollment_id == enrollment_id:
            return row
    except Enrollment.DoesNotExist:
        pass
    funnel = key.split("#", 1)[0]
    query = Enrollment.query(
        contact_id, Enrollment.enrollment_key.startswith(f"{funnel}#"), consistent_read=True
    )
    return next((row for row in query if row.enrollment_id == enrollment_id), None)
