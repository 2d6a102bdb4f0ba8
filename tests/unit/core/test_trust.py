"""The trust rules (chalicelib.core.trust): the cases the issue names, then every combination of
a small world of contacts and calls, checked against the rules a claim must keep."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.core import trust
from chalicelib.core.trust import CallKeys, Holder, Plan, plan
from chalicelib.identity.keys import KINDS

VERA = "email:vera@shop.test"
ALICE = "email:alice@shop.test"
BOB = "email:bob@shop.test"
EVIL = "email:evil@x.test"
PHONE = "phone:+447700900123"
PHONE_2 = "phone:+447700900456"
ANON = "anon:A"
ANON_B = "anon:B"
USER = "user:u1"
USER_2 = "user:u2"
TELEGRAM = "telegram:42"


def strongest_first(keys: list[str]) -> tuple[str, ...]:
    order = ("user", "email", "phone", "telegram", "whatsapp", "messenger", "instagram", "anon")
    return tuple(sorted(dict.fromkeys(keys), key=lambda key: order.index(trust.kind_of(key))))


class World:
    """Contacts (id -> keys held, keys proven) and the owners they imply."""

    def __init__(self, **contacts: tuple[set[str], set[str]]) -> None:
        self.holders = {
            name: Holder(name, frozenset(keys), frozenset(proven))
            for name, (keys, proven) in contacts.items()
        }
        self.owners: dict[str, str | None] = {
            key: name for name, holder in self.holders.items() for key in holder.keys
        }
        self.asked: list[str] = []

    def holder(self, contact_id: str) -> Holder:
        self.asked.append(contact_id)
        return self.holders[contact_id]

    def plan(self, keys: list[str], level: str = trust.CLAIM, **extra: object) -> Plan:
        call = CallKeys(strongest_first(keys), level, **extra)  # type: ignore[arg-type]
        return plan(call, self.owners, self.holder)


def known_customer(*keys: str) -> tuple[set[str], set[str]]:
    """A contact a shop webhook made: its email (and phone) proven."""
    return set(keys), {key for key in keys if trust.kind_of(key) in ("email", "phone")}


def claims(*keys: str) -> tuple[set[str], set[str]]:
    return set(keys), set()


# --- the cases ---------------------------------------------------------------------


def test_a_claimed_email_of_a_known_customer_does_not_attach_the_visitor() -> None:
    world = World(vera=known_customer(VERA))
    result = world.plan([ANON, VERA])
    assert result.home is None  # a contact of the visitor's own
    assert result.merge == ()
    assert result.claim == (ANON,)  # Vera's email stays hers alone
    assert result.refused == (VERA,)
    assert result.prove == ()


def test_then_other_addresses_stay_on_the_visitors_contact() -> None:
    world = World(vera=known_customer(VERA), visitor=claims(ANON))
    result = world.plan([ANON, EVIL, PHONE])
    assert result.home == "visitor"
    assert result.claim == (EVIL, PHONE)
    assert result.changes


def test_a_claim_from_a_known_customers_own_browser_changes_nothing() -> None:
    world = World(vera=known_customer(VERA, ANON))
    result = world.plan([ANON, EVIL, PHONE])
    assert result.home == "vera"  # its events land on Vera's timeline
    assert not result.changes  # but traits, addresses and consents stay hers
    assert result.claim == ()
    assert set(result.refused) == {EVIL, PHONE}


@pytest.mark.parametrize(
    "calls",
    [
        [[ANON, ALICE, BOB]],  # alice in traits, bob in context.traits
        [[ANON, ALICE], [ANON, BOB]],  # two identifies from one anonymous id
        [[ANON, BOB], [ANON, ALICE]],
        [[USER, ALICE], [USER, BOB]],
        [[ANON, PHONE, ALICE], [ANON, BOB]],
    ],
)
def test_two_known_customers_are_never_merged_by_claims(calls: list[list[str]]) -> None:
    world = World(alice=known_customer(ALICE), bob=known_customer(BOB))
    for keys in calls:
        result = world.plan(keys)
        assert result.merge == ()
        assert result.home not in ("alice", "bob")
        for key in result.claim:  # what the visitor's contact takes, it keeps
            world.owners[key] = result.home or "visitor"
        if result.home is None:
            world.holders["visitor"] = Holder("visitor", frozenset(result.claim))
        else:
            held = world.holders[result.home]
            world.holders[result.home] = Holder(held.contact_id, held.keys | set(result.claim))


def test_a_claim_never_adds_a_second_address_of_a_kind() -> None:
    world = World(visitor=claims(ANON, ALICE))
    result = world.plan([ANON, BOB, PHONE])
    assert result.home == "visitor"
    assert not result.changes  # it claims to be somebody else: not this contact's traits
    assert result.claim == ()


def test_a_claim_naming_two_emails_claims_the_first() -> None:
    result = World().plan([ANON, ALICE, BOB])
    assert result.home is None
    assert result.claim == (ALICE, ANON)  # (strongest first: the call's order within a kind)


def test_the_same_email_typed_on_two_devices_merges_two_contacts_of_claims() -> None:
    world = World(laptop=claims(ANON, ALICE), phone=claims(ANON_B))
    result = world.plan([ANON_B, ALICE])
    assert result.home == "laptop"  # the stronger identity's contact survives
    assert result.merge == ("phone",)
    assert result.changes


def test_claims_never_merge_a_contact_with_a_user_id() -> None:
    world = World(laptop=claims(ANON, ALICE, USER), phone=claims(ANON_B))
    result = world.plan([ANON_B, ALICE])
    assert result.merge == ()
    world = World(laptop=claims(ANON, ALICE), phone=claims(ANON_B, USER))
    assert world.plan([ANON_B, ALICE]).merge == ()


def test_claims_merge_nothing_that_would_hold_two_addresses_of_a_kind() -> None:
    world = World(laptop=claims(ANON, ALICE, PHONE), phone=claims(ANON_B, PHONE_2))
    assert world.plan([ANON_B, ALICE]).merge == ()


def test_a_new_visitor_naming_a_contact_of_claims_joins_it() -> None:
    world = World(popup=claims(ANON, ALICE))
    result = world.plan([ANON_B, ALICE])
    assert result.home == "popup"
    assert result.claim == (ANON_B,)


def test_a_new_visitor_joins_a_users_contact_only_when_it_holds_nothing_proven() -> None:
    joined = World(site=claims(ANON, USER)).plan([ANON_B, USER])
    assert (joined.home, joined.claim) == ("site", (ANON_B,))
    known = World(site=known_customer(ANON, USER, ALICE)).plan([ANON_B, USER])
    assert known.home == "site"  # its events are the user's (filed under the user id)
    assert not known.changes and known.claim == ()  # but the browser is not attached


def test_a_public_alias_never_merges_users() -> None:
    world = World(visitor=claims(ANON), user=claims(USER))
    result = world.plan(
        [USER, "user:A", ANON], lookup_only=("user:A", ANON)
    )  # alias(previousId=A, userId=u1)
    assert result.merge == ()
    assert result.home == "visitor"


# --- the sources that prove ----------------------------------------------------------------


def test_a_server_call_does_what_it_says() -> None:
    world = World(vera=known_customer(VERA), visitor=claims(ANON))
    attach = world.plan([ANON, VERA], trust.SERVER)
    assert attach.home == "vera"
    assert attach.merge == ("visitor",)
    world = World(vera=known_customer(VERA, ANON))
    change = world.plan([ANON, EVIL, PHONE], trust.SERVER)
    assert change.home == "vera"
    assert change.claim == (EVIL, PHONE)
    assert set(change.prove) == {EVIL, PHONE}
    merge = World(alice=known_customer(ALICE), bob=known_customer(BOB)).plan(
        [ANON, ALICE, BOB], trust.SERVER
    )
    assert merge.home == "alice"
    assert merge.merge == ("bob",)


def test_an_identity_hash_proves_its_user_and_what_they_say_of_themselves() -> None:
    world = World(vera=known_customer(VERA), visitor=claims(ANON))
    attach = world.plan([ANON, VERA], trust.IDENTITY_HASH, anchor=VERA)
    assert attach.home == "vera"
    assert attach.merge == ("visitor",)  # the visitor's contact of claims joins her
    assert VERA in attach.prove
    world = World(vera=known_customer(VERA, ANON))
    # Signed in as vera@ (the hash's email, in context.traits), she sets a new email and phone.
    change = world.plan([ANON, VERA, EVIL, PHONE], trust.IDENTITY_HASH, anchor=VERA)
    assert change.home == "vera"
    assert change.claim == (EVIL, PHONE)
    assert set(change.prove) == {VERA, EVIL, PHONE}


def test_an_identity_hash_of_somebody_else_on_a_known_browser_gets_its_own_contact() -> None:
    world = World(vera=known_customer(VERA, ANON))
    result = world.plan([ANON, EVIL, PHONE], trust.IDENTITY_HASH, anchor=EVIL)
    assert result.home is None  # proof of evil@ is no proof about Vera's contact
    assert result.claim == (EVIL, PHONE)
    assert result.refused == (ANON,)


def test_an_identity_hash_never_takes_another_known_contact() -> None:
    world = World(vera=known_customer(VERA), evil=known_customer(EVIL, ANON))
    result = world.plan([ANON, EVIL, VERA], trust.IDENTITY_HASH, anchor=EVIL)
    assert result.home == "evil"
    assert result.merge == ()  # proof of evil@ says nothing about vera@
    assert result.refused == (VERA,)


def test_an_identity_hash_leaves_a_shared_browser_with_its_owner() -> None:
    world = World(vera=known_customer(VERA, ANON))
    result = world.plan([USER_2, ANON], trust.IDENTITY_HASH, anchor=USER_2)
    assert result.home is None  # a contact for the signed-in user
    assert result.claim == (USER_2,)
    assert result.refused == (ANON,)


def test_a_shop_webhook_proves_email_and_phone_but_not_the_cart_anonymous_id() -> None:
    world = World(vera=known_customer(VERA, ANON), alice=known_customer(ALICE))
    result = world.plan([ALICE, ANON], trust.SHOP)  # `_af_anon` names Vera's browser
    assert result.home == "alice"
    assert result.merge == ()
    world = World(visitor=claims(ANON, VERA))
    result = world.plan([VERA, PHONE, ANON], trust.SHOP)
    assert result.home == "visitor"
    assert result.claim == (PHONE,)
    assert set(result.prove) == {VERA, PHONE}


def test_a_chat_joins_the_visitor_it_was_linked_to_unless_that_is_a_known_person() -> None:
    world = World(visitor=claims(ANON))
    result = world.plan([TELEGRAM, ANON], trust.MESSENGER)
    assert result.home == "visitor"
    assert result.claim == (TELEGRAM,)
    assert result.prove == (TELEGRAM,)
    world = World(vera=known_customer(VERA, ANON))
    result = world.plan([TELEGRAM, ANON], trust.MESSENGER)
    assert result.home is None  # a deep link is minted with the public key
    assert result.claim == (TELEGRAM,)


def test_a_contacts_own_answer_lands_on_it_and_takes_only_free_addresses() -> None:
    world = World(chat=({TELEGRAM}, {TELEGRAM}), vera=known_customer(VERA))
    result = world.plan([EVIL], trust.CONTACT, home="chat")
    assert result.home == "chat"
    assert result.claim == (EVIL,)
    assert result.prove == ()
    taken = world.plan([VERA], trust.CONTACT, home="chat")
    assert taken.merge == ()  # Vera's contact is not a chat's to take
    assert taken.refused == (VERA,)


def test_strength_is_the_identity_layers() -> None:
    assert trust.STRENGTH == KINDS


def test_only_proven_orders_count_and_claims_grant_no_texts() -> None:
    assert not trust.counts_orders(trust.CLAIM)
    assert not trust.counts_orders(trust.CONTACT)
    assert all(trust.counts_orders(t) for t in (trust.SERVER, trust.SHOP, trust.IDENTITY_HASH))
    assert not trust.may_grant(trust.CLAIM, "sms")
    assert not trust.may_grant(trust.CLAIM, "whatsapp")
    assert trust.may_grant(trust.CLAIM, "email")
    assert trust.may_grant(trust.SERVER, "sms")
    with pytest.raises(ValueError, match="unknown trust"):
        trust.check_level("admin")


def test_an_event_of_a_visitor_costs_no_lookup_of_the_contact() -> None:
    world = World(vera=known_customer(VERA, ANON))
    assert world.plan([ANON], trust.SERVER).home == "vera"
    assert world.plan([ANON], changes_asked=False).home == "vera"  # a claim's page view
    assert world.asked == []
    identify = world.plan([ANON])  # an identify asks to change the profile: it is looked up
    assert set(world.asked) == {"vera"} and not identify.changes


# --- every combination ---------------------------------------------------------------------

# Who a key of the call may belong to: nobody, a contact of claims, a contact with a user id of
# its own, a known contact (an email of its own proven), or the contact owning the previous key.
STATES = ("nobody", "claims", "user", "known", "same")
CALLS = [
    [ANON],
    [ANON, ALICE],
    [ANON, ALICE, BOB],
    [ANON, ALICE, PHONE],
    [USER, ANON],
    [USER, ALICE, ANON],
    [ALICE, PHONE],
]


def worlds() -> list[tuple[list[str], World]]:
    """Each call shape with each of its keys owned in each state."""
    found = []
    for keys in CALLS:
        for states in itertools.product(STATES, repeat=len(keys)):
            contacts: dict[str, tuple[set[str], set[str]]] = {}
            previous: str | None = None
            for index, (key, state) in enumerate(zip(keys, states, strict=True)):
                if state == "nobody" or (state == "same" and previous is None):
                    previous = None
                    continue
                name = previous if state == "same" and previous else f"c{index}"
                held, proven = contacts.setdefault(name, (set(), set()))
                held.add(key)
                if state == "user":
                    held.add(f"user:own{index}")
                if state == "known":
                    held.add(f"email:known{index}@x.test")
                    proven.add(f"email:known{index}@x.test")
                previous = name
            found.append((keys, World(**contacts)))
    return found


WORLDS = worlds()


def test_the_world_is_big_enough() -> None:
    assert len(WORLDS) == sum(len(STATES) ** len(keys) for keys in CALLS)


@pytest.mark.parametrize("level", trust.LEVELS)
def test_every_combination_keeps_the_rules(level: str) -> None:
    for keys, world in WORLDS:
        if level == trust.CONTACT and not world.holders:
            continue
        home = next(iter(world.holders), None) if level == trust.CONTACT else None
        anchor = strongest_first(keys)[0] if level == trust.IDENTITY_HASH else None
        for asked in (True, False):
            result = world.plan(keys, level, anchor=anchor, home=home, changes_asked=asked)
            _check(level, keys, world, result, anchor, home, asked)


def _check(
    level: str,
    keys: list[str],
    world: World,
    result: Plan,
    anchor: str | None,
    home_of_call: str | None,
    asked: bool = True,
) -> None:
    where = f"{level} {keys} {world.holders}: {result}"
    owners = world.owners
    assert not set(result.claim) & set(owners) - {k for k in owners if owners[k] is None}, where
    assert result.home not in result.merge, where
    joined = {result.home, *result.merge} - {None}
    taken = set(result.claim) | {k for k in keys if owners.get(k) in joined}
    assert taken | set(result.refused) == set(keys), where  # each key: on the home, or not
    assert not taken & set(result.refused), where
    if level not in (trust.CLAIM, trust.CONTACT):
        assert set(result.prove) == {k for k in taken if trust.proves(level, k, anchor)}, where
    else:
        assert result.prove == (), where
    if level == trust.CLAIM:
        _check_claim(keys, world, result, where, asked)
    else:  # each contact joined: the one answering, one the source links, or unprotected
        for other in joined - {home_of_call}:
            facts = world.holders[other]
            linked = any(owners.get(k) == other and trust.links(level, k, anchor) for k in keys)
            assert linked or not facts.protected, where


def _check_claim(keys: list[str], world: World, result: Plan, where: str, asked: bool) -> None:
    owners = world.owners
    anon_owner = owners.get(ANON) if ANON in keys else None
    if anon_owner is None and USER in keys:
        anon_owner = owners.get(USER)  # no browser: the user id is the visitor's own id
    if anon_owner is not None:  # the visitor's own contact, or the one it merges into
        assert anon_owner in (result.home, *result.merge), where
    home = world.holders.get(result.home) if result.home else None
    if home is not None and home.known:
        assert not result.claim and not result.merge, where
        assert not result.changes or not asked, where  # (a call that asks nothing changes nothing)
    if result.home is not None and result.home != anon_owner:
        assert home is not None and not home.known, where  # never attaches to a known person
    for other in result.merge:
        assert not world.holders[other].protected, where
        assert home is not None and not home.protected, where
    if result.merge:  # into the contact holding the strongest identity
        best = min(
            trust.STRENGTH.index(trust.kind_of(k))
            for k in keys
            if owners.get(k) in (result.home, *result.merge)
        )
        assert any(trust.STRENGTH.index(trust.kind_of(k)) == best for k in home.keys), where
    after = set(home.keys if home else ()) | set(result.claim)
    for other in result.merge:
        after |= world.holders[other].keys
    if result.changes or result.merge or result.claim:
        for kind in trust.SINGLE_KINDS:
            of_kind = {k for k in after if trust.kind_of(k) == kind}
            parts = [home, *(world.holders[other] for other in result.merge)]
            most = max((len(part.of_kind(kind)) for part in parts if part), default=0)
            assert len(of_kind) <= max(1, most), where  # never an address more than it had
    assert result.prove == (), where
