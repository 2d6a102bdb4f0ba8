"""Funnel versions in DynamoDB: publish, list, pause/resume/archive, and load for the engine.

Versions are immutable, so a loaded version is cached for the life of the process; the set of
active funnels (the trigger index) is cached briefly, and refreshed at once by this process's
own changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.storage.errors import conflicts_as_domain_errors
from chalicelib.storage.models import Funnel as FunnelRow

if TYPE_CHECKING:  # the core (pydantic, Liquid) loads when a funnel is first needed
    from chalicelib.core.funnel import Funnel
    from chalicelib.core.index import TriggerIndex

ACTIVE, PAUSED, ARCHIVED = "active", "paused", "archived"
STATES = (ACTIVE, PAUSED, ARCHIVED)
HEAD = 0


class UnknownFunnel(LookupError):
    pass


class WrongName(ValueError):
    """The source names another funnel than the one it was uploaded as."""


@dataclass(frozen=True)
class Published:
    name: str
    version: int
    created: bool  # False when the same source was already the latest version


class FunnelStore:
    def __init__(self, connection: Connection, index_ttl_seconds: float = 30.0) -> None:
        self._connection = connection
        self._versions: dict[tuple[str, int], Funnel] = {}
        self._index: TriggerIndex | None = None
        self._heads: dict[str, FunnelRow] = {}
        self._index_loaded_at = 0.0
        self._index_ttl = index_ttl_seconds

    def publish(
        self, source: str, filename: str, now: datetime, name: str | None = None
    ) -> Published:
        """Validate and store `source` as the next version (FunnelValidationError if invalid;
        WrongName, storing nothing, when `name` is given and the source names another)."""
        from chalicelib.core.validate import parse_funnel

        funnel = parse_funnel(source, filename)
        if name is not None and funnel.name != name:
            raise WrongName(funnel.name)
        checksum = hashlib.sha256(source.encode()).hexdigest()
        head = self._head(funnel.name)
        if head is not None and head.checksum == checksum:
            return Published(funnel.name, int(head.latest_version or 0), created=False)
        version = int(head.latest_version or 0) + 1 if head else 1
        definition = dataclasses.replace(funnel, version=version).to_dict()
        row = FunnelRow(
            funnel.name,
            version,
            definition=definition,
            source=source,
            checksum=checksum,
            created_at=now,
        )
        if head is None:
            head = FunnelRow(funnel.name, HEAD, listing="head", state=ACTIVE, created_at=now)
        head.latest_version = version
        head.checksum = checksum
        with (
            conflicts_as_domain_errors(f"publish {funnel.name}"),
            TransactWrite(connection=self._connection) as transaction,
        ):
            transaction.save(row, condition=FunnelRow.version.does_not_exist())
            transaction.save(head)  # the head's lock attribute guards a concurrent publish
        self.refresh()
        return Published(funnel.name, version, created=True)

    def set_state(self, name: str, state: str) -> FunnelRow:
        if state not in STATES:
            raise ValueError(f"unknown funnel state {state!r}")
        head = self._head(name)
        if head is None:
            raise UnknownFunnel(name)
        with conflicts_as_domain_errors(f"set {name} {state}"):
            head.update(actions=[FunnelRow.state.set(state)])
        self.refresh()
        return head

    def heads(self) -> list[FunnelRow]:
        return list(FunnelRow.by_listing.query("head"))

    def state_of(self, name: str) -> str:
        self._ensure_index()
        head = self._heads.get(name)
        return str(head.state) if head is not None else ARCHIVED

    def version(self, name: str, version: int) -> Funnel:
        key = (name, version)
        if key not in self._versions:
            try:
                row = FunnelRow.get(name, version)
            except FunnelRow.DoesNotExist as missing:
                raise UnknownFunnel(f"{name} v{version}") from missing
            from chalicelib.core.funnel import Funnel

            self._versions[key] = Funnel.from_dict(row.definition)
        return self._versions[key]

    def source(self, name: str, version: int) -> str:
        return str(FunnelRow.get(name, version).source)

    def index(self) -> TriggerIndex:
        """The latest version of every active funnel, indexed by the events they react to."""
        self._ensure_index()
        assert self._index is not None
        return self._index

    def refresh(self) -> None:
        self._index = None

    def _ensure_index(self) -> None:
        if self._index is not None and time.monotonic() - self._index_loaded_at < self._index_ttl:
            return
        from chalicelib.core.index import TriggerIndex

        heads = {head.name: head for head in self.heads()}
        latest = [
            (name, int(head.latest_version))
            for name, head in heads.items()
            if head.state == ACTIVE and head.latest_version
        ]
        self._load([key for key in latest if key not in self._versions])
        active = [self.version(name, version) for name, version in latest]
        self._heads = heads
        self._index = TriggerIndex.build(active)
        self._index_loaded_at = time.monotonic()

    def _load(self, keys: list[tuple[str, int]]) -> None:
        """Cache these versions, read in one BatchGetItem: a cold start reads every active
        funnel, and a GetItem each cost it ~3M instructions (`version` raises for one missing)."""
        if not keys:
            return
        from chalicelib.core.funnel import Funnel

        for row in FunnelRow.batch_get(keys):
            self._versions[(row.name, int(row.version))] = Funnel.from_dict(row.definition)

    def _head(self, name: str) -> FunnelRow | None:
        try:
            return FunnelRow.get(name, HEAD, consistent_read=True)
        except FunnelRow.DoesNotExist:
            return None


def head_summary(head: FunnelRow) -> dict[str, Any]:
    return {
        "name": head.name,
        "state": head.state,
        "version": int(head.latest_version or 0),
        "created_at": head.created_at.isoformat(),
    }
