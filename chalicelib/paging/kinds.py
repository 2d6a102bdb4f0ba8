"""What a kind of paged job is made of: passes over sources of items, each page handed to a
handler that counts into the job; a finish step after the last pass.

A kind is plain code given its collaborators (clock, runtime, event hand-off) by the entry point
that builds it (chalicelib/jobs.py); nothing here reads the composition root.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_key: dict[str, Any] | None  # where the next page starts; None: the partition is done


class Source(Protocol):
    """Items read in pages: a list of partitions (e.g. the shards of a GSI), each read from a
    start key. Reading must be a Query or GetItem, never a Scan."""

    def partitions(self, work: Work) -> list[str]: ...

    def read(
        self, work: Work, partition: str, start: dict[str, Any] | None, limit: int
    ) -> Page: ...

    def estimate(self, work: Work) -> int | None:
        """Roughly how many items all partitions hold (a progress bar's total), if known."""
        ...


@dataclass
class Work:
    """What a handler sees of its job. `counts` and `state` are committed with the cursor after
    each page, so whatever a handler adds to them counts exactly once."""

    job_id: str
    kind: str
    as_of: datetime  # the business time the job computes for (fixed when it was created)
    params: dict[str, Any]
    counts: dict[str, float] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    partition: str = ""

    def count(self, name: str, amount: float = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount


Handler = Callable[[Work, Sequence[Any]], None]


@dataclass(frozen=True)
class Pass:
    """One read of a source from start to end; `handle` gets each page's items.

    A page is handled again when an invocation dies after handling some of it and before its
    checkpoint: `handle` must leave each item as if handled once (conditional writes, ids
    derived from the job, a mark on the item carrying the job id and its outcome) and count it
    again from what it finds."""

    name: str
    source: Source
    handle: Handler
    page_size: int = 100
    total: Callable[[Work], int | None] | None = None  # default: the source's estimate


class JobKind(Protocol):
    name: str

    @property
    def counts(self) -> tuple[str, ...]:
        """What the kind counts: shown from the start, zero until counted."""
        ...

    def passes(self, work: Work) -> Sequence[Pass]:
        """The same passes for the same job every time it is asked (the plan is stored)."""
        ...

    def finish(self, work: Work) -> None:
        """After the last page of the last pass; may run twice after a crash: idempotent."""
        ...
