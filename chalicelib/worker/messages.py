"""The messages a batch's provider feedback is about, read once per batch.

A status needs its message three times: to find its contact (the group its entry joins), to
record the status, and to tell the enrollment that sent it (Runtime.handle_statuses). The batch
reads them together (one BatchGetItem, eventually consistent as a GetItem is) and hands the
copies along. Recording a status updates its copy in place, guarded by the version as before: a
stale copy fails the write and is read again, consistent. Before that write a copy is used for
its contact, which only a merge changes: when this process has moved any contact's messages
since the copies were read, they are dropped and read again one at a time, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from chalicelib.eventlog.entry import CONSENT, MESSAGE, PROVIDER, Entry
from chalicelib.identity.merge import message_moves
from chalicelib.storage.models import Message
from chalicelib.tracking import message_status

log = logging.getLogger(__name__)


class BatchMessages:
    def __init__(self) -> None:
        self._found: dict[str, Message | None] = {}
        self._provider_ids: dict[str, str | None] = {}  # provider id -> our message id
        self._moves = message_moves()

    def prefetch(self, entries: Iterable[Entry]) -> None:
        """Read the messages the entries name, together. A failure leaves each to be read
        when needed (an entry whose read fails then fails alone, as before)."""
        try:
            self._prefetch(entries)
        except Exception:
            log.exception("could not read the batch's messages together")

    def _prefetch(self, entries: Iterable[Entry]) -> None:
        wanted: set[str] = set()
        for entry in entries:
            message_id: str | None = None
            if entry.subject.startswith(MESSAGE):
                message_id = entry.subject.removeprefix(MESSAGE)
            elif entry.subject.startswith(PROVIDER):
                message_id = self._message_id(entry.subject.removeprefix(PROVIDER))
            elif _unsubscribe_link(entry):
                message_id = str(entry.properties["message_id"])
            if message_id and message_id not in self._found:
                wanted.add(message_id)
        if not wanted:
            return
        found = {message.message_id: message for message in Message.batch_get(sorted(wanted))}
        for message_id in wanted:
            self._found[message_id] = found.get(message_id)

    def get(self, message_id: str) -> Message | None:
        self._drop_if_moved()
        if message_id not in self._found:
            self._found[message_id] = message_status.find(message_id)
        return self._found[message_id]

    def by_provider_id(self, provider_id: str) -> Message | None:
        message_id = self._message_id(provider_id)
        return self.get(message_id) if message_id is not None else None

    def keep(self, message: Message) -> None:
        """A copy read elsewhere (a reply's message): the one to hand along from now on."""
        self._drop_if_moved()
        self._found[message.message_id] = message

    def _message_id(self, provider_id: str) -> str | None:
        if provider_id not in self._provider_ids:
            self._provider_ids[provider_id] = message_status.id_by_provider_id(provider_id)
        return self._provider_ids[provider_id]

    def _drop_if_moved(self) -> None:
        moves = message_moves()
        if moves != self._moves:
            self._found.clear()
            self._moves = moves


def _unsubscribe_link(entry: Entry) -> bool:
    """An unsubscribe that names its message (worker.feedback tells the message)."""
    return (
        entry.type == CONSENT
        and entry.verified
        and entry.name == "unsubscribed"
        and bool(entry.properties.get("message_id"))
    )
