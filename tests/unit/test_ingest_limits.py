"""Caps on what one call may carry, and which of a contact's calls fit its trait cap (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.ingest import limits
from chalicelib.ingest.spec import CallError, parse_call

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def nested(levels: int) -> object:
    value: object = "x"
    for _ in range(levels):
        value = {"a": value}
    return value


def identify(traits: dict[str, object], message_id: str = "m") -> object:
    return parse_call({"userId": "u", "messageId": message_id, "traits": traits}, NOW, "identify")


def test_a_hostile_depth_is_refused_as_too_deep_not_a_crash() -> None:
    with pytest.raises(limits.LimitExceeded) as error:
        limits.loads(b"[" * 15000)
    assert error.value.limit is limits.NESTING
    with pytest.raises(limits.LimitExceeded):
        limits.loads(json.dumps(nested(limits.MAX_NESTING + 1)))
    assert limits.loads(json.dumps(nested(limits.MAX_NESTING))) == nested(limits.MAX_NESTING)
    with pytest.raises(ValueError, match="NaN"):
        limits.loads(b'{"a": NaN}')
    with pytest.raises(ValueError, match="out of range"):
        limits.loads(b'{"a": 1e400}')  # Python would read it as inf


@pytest.mark.parametrize(
    ("traits", "limit", "field"),
    [
        ({"bio": "x" * 2000}, limits.TRAIT_VALUE, "traits.bio"),
        ({"n" * 200: 1}, limits.TRAIT_NAME, None),
        (
            {f"t{i}": i for i in range(limits.MAX_TRAITS_PER_CONTACT + 1)},
            limits.TRAITS_PER_CONTACT,
            "traits",
        ),
        ({"deep": nested(limits.MAX_NESTING)}, limits.NESTING, "traits"),
    ],
)
def test_each_trait_limit_is_named(
    traits: dict[str, object], limit: limits.Limit, field: str | None
) -> None:
    with pytest.raises(CallError) as error:
        identify(traits)
    assert error.value.limit is limit
    if field is not None:
        assert error.value.field == field


def test_traits_within_the_limits_pass_and_track_properties_are_not_traits() -> None:
    call = identify({"bio": "x" * 1000, "address": {"city": "Berlin"}, "deep": nested(30)})
    assert call.traits["bio"] == "x" * 1000
    # A track's properties may hold one big value (a cart): only the 32 KB per call applies.
    track = parse_call(
        {"userId": "u", "event": "cart_updated", "properties": {"items": "x" * 20_000}},
        NOW,
        "track",
    )
    assert len(track.properties["items"]) == 20_000


def test_a_full_contact_keeps_its_normal_calls_and_updates_of_known_traits() -> None:
    existing = {f"t{i}" for i in range(limits.MAX_TRAITS_PER_CONTACT - 1)}
    calls = [
        parse_call({"userId": "u", "event": "viewed"}, NOW, "track"),
        identify({"t1": "new value"}, "known"),
        identify({"fresh": 1}, "fits"),  # the last free slot
        identify({"another": 1}, "over"),
        identify({"consents": {"email": True}}, "consent"),
    ]
    kept, refused = limits.fit_traits(calls, existing)
    assert [call.message_id for call in kept] == [calls[0].message_id, "known", "fits", "consent"]
    assert [(call.message_id, limit) for call, limit in refused] == [
        ("over", limits.TRAITS_PER_CONTACT)
    ]
    # Out of bytes: every call that writes traits is refused, the others kept.
    kept, refused = limits.fit_traits(calls, None)
    assert [call.type for call in kept] == ["track", "identify"]  # the consents-only identify
    assert {limit for _, limit in refused} == {limits.PROFILE_BYTES}
