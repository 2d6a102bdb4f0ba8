"""Sources of trust, and what a call from each may do to the contacts it names (pure).

The snippet's write key sits in every page, so what a call made with it says is a claim. Proof
comes from elsewhere, and each source proves only what it can:

- `claim`: a public write key without a valid identity hash. Proves nothing.
- `identity_hash`: a write key with a valid identity hash (HMAC of the user id or email,
  computed by the shop's server). Proves that the caller is that user, and what they say
  about themselves.
- `server`: a server key (the shop's backend, a Segment or RudderStack server library).
  Proves everything it says.
- `shop`: a signed shop webhook. Proves the customer's email and phone, and orders.
- `messenger`: a signed messenger webhook. Proves that chat (and a phone shared from it), and
  consent for it.
- `provider`: a signed provider callback. Proves our messages' fate; a reply proves its number.
- `contact`: the contact's own answer to a funnel (a reply in its chat). Proves nothing, but
  it is that contact's.
- `internal`: the admin API, the engine itself.

The rules for what is not proof (`plan`): a claim never attaches its anonymous id to, or
changes, a contact that holds a proven identity or a different address of the same kind; never
merges two contacts when either holds a proven identity or a user id; so never changes a send
address that is already set. It never grants SMS or WhatsApp consent (that takes a double
opt-in) and never counts an order. What a claim may do: land on the visitor's own contact and
be stored; an unverified email keeps receiving the email funnels it signed up for.

A contact is *protected* when it holds a proven identity or a user id; *known* when it holds a
proven identity. Identity keys are "{kind}:{value}" (chalicelib.identity.keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

CLAIM = "claim"
IDENTITY_HASH = "identity_hash"
SERVER = "server"
SHOP = "shop"
MESSENGER = "messenger"
PROVIDER = "provider"
CONTACT = "contact"
INTERNAL = "internal"
LEVELS = (CLAIM, IDENTITY_HASH, SERVER, SHOP, MESSENGER, PROVIDER, CONTACT, INTERNAL)

ANON = "anon"
# Strongest first, as chalicelib.identity.keys.KINDS: a merge keeps the strongest one's contact.
STRENGTH = ("user", "email", "phone", "telegram", "whatsapp", "messenger", "instagram", "anon")
USER = "user"
# One of each per contact, unless a trusted source says otherwise: a claim naming another one is
# a claim about somebody else.
SINGLE_KINDS = ("user", "email", "phone")
CHAT_KINDS = ("telegram", "messenger", "instagram", "whatsapp")
ALL_KINDS = ("user", "email", "phone", *CHAT_KINDS)  # every kind but the anonymous id
DOUBLE_OPT_IN = frozenset({"sms", "whatsapp"})  # channels a claim cannot consent to

# Keys whose owner is certainly the person the call is about: a call joins that contact even
# when it is protected, and merges it with the others such keys name.
_LINKS: dict[str, frozenset[str]] = {
    SERVER: frozenset({*ALL_KINDS, ANON}),
    INTERNAL: frozenset({*ALL_KINDS, ANON}),
    SHOP: frozenset({"email", "phone"}),
    MESSENGER: frozenset({*CHAT_KINDS, "phone"}),
    PROVIDER: frozenset({"phone", "whatsapp"}),
}
# Keys a call makes proven identities of the contact it lands on.
_PROVES: dict[str, frozenset[str]] = {
    SERVER: frozenset(ALL_KINDS),
    INTERNAL: frozenset(ALL_KINDS),
    IDENTITY_HASH: frozenset(ALL_KINDS),  # a signed-in person's own addresses
    SHOP: frozenset({"email", "phone"}),
    MESSENGER: frozenset({*CHAT_KINDS, "phone"}),
    PROVIDER: frozenset({"phone", "whatsapp"}),
}
_COUNTS_ORDERS = frozenset({SERVER, INTERNAL, IDENTITY_HASH, SHOP})


def kind_of(key: str) -> str:
    return key.partition(":")[0]


def check_level(trust: str) -> str:
    if trust not in LEVELS:
        raise ValueError(f"unknown trust {trust!r} (one of {', '.join(LEVELS)})")
    return trust


def counts_orders(trust: str) -> bool:
    """Whether an order event from this source adds to orders, total spent, revenue,
    attribution and RFM (a claimed order stays an event funnels may branch on)."""
    return trust in _COUNTS_ORDERS


def may_grant(trust: str, channel: str) -> bool:
    """Whether the source may give consent for `channel` (revoking is a change like any other)."""
    return trust != CLAIM or channel not in DOUBLE_OPT_IN


def proves(trust: str, key: str, anchor: str | None = None) -> bool:
    """Whether the key becomes a proven identity of the contact the call lands on."""
    return key == anchor or kind_of(key) in _PROVES.get(trust, ())


def links(trust: str, key: str, anchor: str | None = None) -> bool:
    """Whether the key's owner is certainly the person the call is about."""
    return key == anchor or kind_of(key) in _LINKS.get(trust, ())


@dataclass(frozen=True)
class Holder:
    """What the rules need to know of a contact: the identity keys it holds, and which of them
    a trusted source proved."""

    contact_id: str
    keys: frozenset[str] = frozenset()
    proven: frozenset[str] = frozenset()

    @property
    def known(self) -> bool:
        return bool(self.proven)

    @property
    def protected(self) -> bool:
        return self.known or any(kind_of(key) == USER for key in self.keys)

    def of_kind(self, kind: str) -> frozenset[str]:
        return frozenset(key for key in self.keys if kind_of(key) == kind)


@dataclass(frozen=True)
class CallKeys:
    """The identity keys one call carries, and how much its source proves."""

    keys: tuple[str, ...]
    trust: str = CLAIM
    anchor: str | None = None  # the key an identity hash proved
    lookup_only: tuple[str, ...] = ()  # keys to find a contact by, never claimed (alias)
    home: str | None = None  # `contact`: the contact whose answer this is
    changes_asked: bool = True  # it carries traits or consents (False: a page view, an event)


@dataclass(frozen=True)
class Plan:
    """How a call resolves: `home` is where it lands (None: a new contact), `merge` the contacts
    that merge into it, `claim` the unowned keys it takes, `prove` the keys (claimed or already
    home's) that become proven, `changes` whether its traits and consents may change the home."""

    home: str | None
    merge: tuple[str, ...] = ()
    claim: tuple[str, ...] = ()
    prove: tuple[str, ...] = ()
    changes: bool = True
    refused: tuple[str, ...] = field(default=())  # keys left with their owner, or unclaimed


Holders = Callable[[str], Holder]


def plan(call: CallKeys, owners: dict[str, str | None], holder: Holders) -> Plan:
    """Apply the rules to one call. `call.keys` strongest first; `owners`: key -> its contact
    now (None: nobody's); `holder`: the facts of a contact, asked only when a rule depends on
    them (the resolver reads them from storage)."""
    check_level(call.trust)
    keys = list(dict.fromkeys(call.keys))
    owned = {key: owner for key in keys if (owner := owners.get(key)) is not None}
    firsts = _firsts(keys)
    home = _home(call, keys, owned, firsts, holder)
    # The home's own keys matter to a claim (and a contact's answer) that names other keys or
    # asks to change the profile; a page view of a known visitor costs no lookup.
    asks = call.changes_asked or any(owned.get(key) != home for key in keys)
    guarded = call.trust in (CLAIM, CONTACT) and home is not None and asks
    held: set[str] = set(holder(home).keys) if guarded and home is not None else set()
    changes = True  # (irrelevant to a call that changes nothing)
    if call.trust == CLAIM and guarded and home is not None:
        changes = not holder(home).known and not _conflicts(held, firsts)
    merge: list[str] = []
    for key in keys:
        other = owned.get(key)
        if home is None or other is None or other == home or other in merge:
            continue
        if _may_merge(call, key, home, other, holder, held, changes):
            merge.append(other)
            if guarded:
                held |= holder(other).keys
    joined = {home, *merge} - {None}
    claim = _claims(call, keys, owned, firsts, held, changes)
    on_home = [key for key in keys if key in claim or owned.get(key) in joined]
    if home is not None and merge:
        # The contact holding the strongest identity survives the merge, the call's own on a tie.
        def rank(contact: str) -> int:
            mine = {k for k in keys if owned.get(k) == contact} | holder(contact).keys
            return min((STRENGTH.index(kind_of(k)) for k in mine), default=len(STRENGTH))

        survivor = min((home, *merge), key=rank)
        merge = [contact for contact in (home, *merge) if contact != survivor]
        home = survivor
    return Plan(
        home=home,
        merge=tuple(merge),
        claim=claim,
        prove=tuple(key for key in on_home if proves(call.trust, key, call.anchor)),
        changes=changes,
        refused=tuple(key for key in keys if key not in on_home and key not in call.lookup_only),
    )


def _home(
    call: CallKeys,
    keys: Sequence[str],
    owned: dict[str, str],
    firsts: frozenset[str],
    holder: Holders,
) -> str | None:
    """The contact the call is about: the owner of the strongest key the source proves is this
    person; else, for a claim, the visitor's own contact (its anonymous id's), or a contact
    holding nothing proven and nothing that contradicts the claim; for other sources, an
    unprotected contact one of its keys names. None: a new contact."""
    if call.trust == CONTACT:
        return call.home
    for key in keys:
        if key in owned and links(call.trust, key, call.anchor):
            return owned[key]
    if call.trust == CLAIM:
        # The visitor's own id (anonymous, else user id: where the call is filed) keeps its
        # events, whoever it belongs to; whether they change anything is `changes`.
        for kind in (ANON, USER):
            for key in keys:
                if kind_of(key) == kind and key in owned:
                    return owned[key]
        for key in keys:
            if key in owned:
                facts = holder(owned[key])
                if not facts.known and not _conflicts(facts.keys, firsts):
                    return owned[key]
        return None
    for key in keys:
        if key in owned and not holder(owned[key]).protected:
            return owned[key]
    return None


def _may_merge(
    call: CallKeys,
    key: str,
    home: str,
    other: str,
    holder: Holders,
    held: set[str],
    changes: bool,
) -> bool:
    if links(call.trust, key, call.anchor):
        return True  # the source proves it is one person (distinct user ids still never merge)
    facts = holder(other)
    if facts.protected:
        return False  # a claim never takes a known person's contact, nor a user's
    if call.trust != CLAIM:
        return True
    return changes and not holder(home).protected and not _conflicts(held, facts.keys)


def _claims(
    call: CallKeys,
    keys: Sequence[str],
    owned: dict[str, str],
    firsts: frozenset[str],
    held: set[str],
    changes: bool,
) -> tuple[str, ...]:
    """The unowned keys the call takes for its home: all of them, except for a claim, which
    never adds an address of a kind the home already has, nor a second of one kind."""
    unowned = [key for key in keys if key not in owned and key not in call.lookup_only]
    if call.trust != CLAIM:
        return tuple(unowned)
    if not changes:
        return ()
    kinds_held = {kind_of(key) for key in held}
    return tuple(
        key
        for key in unowned
        if kind_of(key) not in SINGLE_KINDS or (key in firsts and kind_of(key) not in kinds_held)
    )


def _firsts(keys: Iterable[str]) -> frozenset[str]:
    """The first key of each single kind: a call naming two emails claims the first only."""
    found: dict[str, str] = {}
    for key in keys:
        if kind_of(key) in SINGLE_KINDS:
            found.setdefault(kind_of(key), key)
    return frozenset(found.values())


def _conflicts(held: Iterable[str], named: Iterable[str]) -> bool:
    """A different key of a single kind: the two name different people."""
    held_by_kind: dict[str, set[str]] = {}
    for key in held:
        held_by_kind.setdefault(kind_of(key), set()).add(key)
    return any(
        kind_of(key) in SINGLE_KINDS
        and held_by_kind.get(kind_of(key))
        and key not in held_by_kind[kind_of(key)]
        for key in named
    )
