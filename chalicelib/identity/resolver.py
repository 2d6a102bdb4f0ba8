"""Which contact is this? Resolves a call's identity keys to one contact, creating or merging,
as far as the call's source proves (chalicelib.core.trust decides; this carries it out).

One Resolver serves one batch of the log: it looks identities up in bulk and remembers what it
learnt, so a batch of 100 calls from one browser costs one BatchGetItem, not 100 reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from chalicelib.core import trust
from chalicelib.identity import store
from chalicelib.identity.keys import strength
from chalicelib.identity.merge import AlreadyMerged, MergeRefused, MergeResult, merge
from chalicelib.storage.errors import ConflictError

_ATTEMPTS = 5


def new_contact_id() -> str:
    return f"c_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Resolution:
    contact_id: str
    changes: bool = True  # whether the call's traits and consents may change the contact
    refused: tuple[str, ...] = ()  # its keys left with another contact, or not taken


class Resolver:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.owners: dict[str, str | None] = {}  # identity key -> contact id (None: unclaimed)
        self.proofs: dict[str, str | None] = {}  # identity key -> what proved it (None: a claim)
        self.redirects: dict[str, str] = {}  # absorbed contact -> survivor
        self.created: set[str] = set()  # contacts minted by this request
        self.merges: list[MergeResult] = []
        self._holders: dict[str, trust.Holder] = {}

    def prefetch(self, keys: Iterable[str]) -> None:
        missing = [key for key in dict.fromkeys(keys) if key not in self.owners]
        found = store.owners(missing)
        for key in missing:
            owner = found.get(key)
            self.owners[key] = owner.contact_id if owner else None
            self.proofs[key] = owner.proof if owner else None

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

    def holder(self, contact_id: str) -> trust.Holder:
        """The identities a contact holds, and which are proven (one Query, then remembered)."""
        if contact_id not in self._holders:
            items = store.of_contact(contact_id)
            self._holders[contact_id] = trust.Holder(
                contact_id,
                frozenset(item.identity for item in items),
                frozenset(item.identity for item in items if item.proof),
            )
        return self._holders[contact_id]

    def resolve(
        self,
        keys: Sequence[str],
        lookup_only: Iterable[str] = (),
        trust_level: str = trust.CLAIM,
        anchor: str | None = None,
    ) -> str:
        return self.resolve_call(keys, lookup_only, trust_level, anchor).contact_id

    def resolve_call(
        self,
        keys: Sequence[str],
        lookup_only: Iterable[str] = (),
        trust_level: str = trust.CLAIM,
        anchor: str | None = None,
        home: str | None = None,
        changes_asked: bool = True,
    ) -> Resolution:
        """The contact for these keys, as the trust rules allow (chalicelib.core.trust): found,
        created, or merged; the unowned keys it may take are claimed for it, except
        `lookup_only` ones (alias's previousId may be either kind). `trust_level` is what the
        call's source proves; `anchor` the key an identity hash proved; `home` the contact a
        `contact`-level call is the answer of; `changes_asked`: the call carries traits or
        consents (else a known visitor's event costs no lookup of the contact's identities)."""
        keys = sorted(dict.fromkeys(keys), key=strength)
        passive = tuple(dict.fromkeys(lookup_only))
        for _ in range(_ATTEMPTS):
            self.prefetch(keys)
            owners = {
                key: self.current(owner) if (owner := self.owners[key]) else None for key in keys
            }
            call = trust.CallKeys(tuple(keys), trust_level, anchor, passive, home, changes_asked)
            decided = trust.plan(call, owners, self.holder)
            contact_id = decided.home or self._new_contact()
            for other in decided.merge:
                contact_id = self._merge(contact_id, other, keys)
            try:
                self._take(contact_id, decided, trust_level)
            except ConflictError:
                # Claimed by a concurrent request (or our read was stale): learn the owner.
                for key in decided.claim:
                    if self.owners[key] is None:
                        self.owners[key] = store.owner(key)
                continue
            return Resolution(contact_id, decided.changes, decided.refused)
        raise ConflictError(f"could not resolve {keys[0]}: identities keep changing")

    def _new_contact(self) -> str:
        contact_id = new_contact_id()
        self.created.add(contact_id)
        self._holders[contact_id] = trust.Holder(contact_id)
        return contact_id

    def _held(self, contact_id: str, key: str, proof: str | None) -> None:
        """Keep a known holder up to date (the index behind `of_contact` lags a write)."""
        held = self._holders.get(contact_id)
        if held is not None:
            self._holders[contact_id] = trust.Holder(
                contact_id, held.keys | {key}, held.proven | ({key} if proof else set())
            )

    def _take(self, contact_id: str, decided: trust.Plan, trust_level: str) -> None:
        """Claim the plan's keys for the contact, and mark the proven ones."""
        proven = set(decided.prove)
        for key in decided.claim:
            proof = trust_level if key in proven else None
            store.claim(key, contact_id, self.now, proof)
            self.owners[key], self.proofs[key] = contact_id, proof
            self._held(contact_id, key, proof)
        for key in decided.prove:
            if key in decided.claim or self.proofs.get(key) is not None:
                continue
            if store.prove(key, contact_id, trust_level):
                self.proofs[key] = trust_level
                self._held(contact_id, key, trust_level)

    def _merge(self, survivor: str, absorbed: str, named: Sequence[str]) -> str:
        for _ in range(_ATTEMPTS):
            survivor, absorbed = self.current(survivor), self.current(absorbed)
            if survivor == absorbed:
                return survivor
            try:
                result = merge(survivor, absorbed, self.now, named)
            except MergeRefused:
                return survivor  # the weaker key stays with its own (different) person
            except AlreadyMerged as already:
                self.redirect(absorbed, already.into)
                continue
            self.merges.append(result)
            self.redirect(absorbed, survivor)
            for key in result.identities:
                self.owners[key] = survivor
            self._holders.pop(survivor, None)
            self._holders.pop(absorbed, None)
            return survivor
        return self.current(survivor)
