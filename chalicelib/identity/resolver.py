"""Which contact is this? Resolves a call's identity keys to one contact, creating or merging.

One Resolver serves one batch of the log: it looks identities up in bulk and remembers what it
learnt, so a batch of 100 calls from one browser costs one BatchGetItem, not 100 reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from chalicelib.identity import store
from chalicelib.identity.keys import strength
from chalicelib.identity.merge import AlreadyMerged, MergeRefused, MergeResult, merge
from chalicelib.storage.errors import ConflictError

_ATTEMPTS = 5


def new_contact_id() -> str:
    return f"c_{uuid.uuid4().hex}"


class Resolver:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.owners: dict[str, str | None] = {}  # identity key -> contact id (None: unclaimed)
        self.redirects: dict[str, str] = {}  # absorbed contact -> survivor
        self.created: set[str] = set()  # contacts minted by this request
        self.merges: list[MergeResult] = []

    def prefetch(self, keys: Iterable[str]) -> None:
        missing = [key for key in dict.fromkeys(keys) if key not in self.owners]
        found = store.owners(missing)
        for key in missing:
            self.owners[key] = found.get(key)

    def current(self, contact_id: str) -> str:
        """Follow merges made during this request (and tombstones learnt on the way)."""
        seen = set()
        while contact_id in self.redirects and contact_id not in seen:
            seen.add(contact_id)
            contact_id = self.redirects[contact_id]
        return contact_id

    def redirect(self, absorbed: str, survivor: str) -> None:
        if absorbed != survivor:
            self.redirects[absorbed] = survivor

    def resolve(self, keys: Sequence[str], lookup_only: Iterable[str] = ()) -> str:
        """The contact for these keys (strongest first is not required). Unclaimed keys are
        claimed for it, except `lookup_only` ones (alias's previousId may be either kind)."""
        keys = sorted(dict.fromkeys(keys), key=strength)
        passive = set(lookup_only)
        for _ in range(_ATTEMPTS):
            self.prefetch(keys)
            contact_id = self._settle(keys)
            try:
                for key in keys:
                    if self.owners[key] is None and key not in passive:
                        store.claim(key, contact_id, self.now)
                        self.owners[key] = contact_id
                return contact_id
            except ConflictError:
                # Claimed by a concurrent request (or our read was stale): learn the owner.
                for key in keys:
                    if self.owners[key] is None:
                        self.owners[key] = store.owner(key)
        raise ConflictError(f"could not resolve {keys[0]}: identities keep changing")

    def _settle(self, keys: Sequence[str]) -> str:
        """One contact for the keys: the strongest key's owner absorbs the other owners."""
        owners = list(
            dict.fromkeys(
                self.current(owner) for key in keys if (owner := self.owners.get(key)) is not None
            )
        )
        if not owners:
            contact_id = new_contact_id()
            self.created.add(contact_id)
            return contact_id
        survivor = owners[0]
        for other in owners[1:]:
            survivor = self._merge(survivor, other)
        return survivor

    def _merge(self, survivor: str, absorbed: str) -> str:
        for _ in range(_ATTEMPTS):
            survivor, absorbed = self.current(survivor), self.current(absorbed)
            if survivor == absorbed:
                return survivor
            try:
                result = merge(survivor, absorbed, self.now)
            except MergeRefused:
                return survivor  # the weaker key stays with its own (different) person
            except AlreadyMerged as already:
                self.redirect(absorbed, already.into)
                continue
            self.merges.append(result)
            self.redirect(absorbed, survivor)
            for key in result.identities:
                self.owners[key] = survivor
            return survivor
        return self.current(survivor)
