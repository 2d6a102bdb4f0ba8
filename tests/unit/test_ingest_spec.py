"""The Segment spec parser, identity keys, attribution and profile merging (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.identity.combine import combine
from chalicelib.identity.keys import InvalidIdentity, identity_key, strength
from chalicelib.ingest.identities import identities_of
from chalicelib.ingest.spec import CallError, parse_call
from chalicelib.ingest.touch import touch_of

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_an_explicit_timestamp_is_kept_and_a_device_clock_is_corrected() -> None:
    explicit = parse_call(
        {"type": "track", "event": "e", "userId": "u", "timestamp": "2026-11-01T00:00:00+02:00"},
        NOW,
    )
    assert explicit.timestamp == datetime(2026, 10, 31, 22, 0, tzinfo=UTC)
    # The device clock is 1 h fast: it says it sent at 13:00 an event from 12:59.
    skewed = parse_call(
        {"type": "track", "event": "e", "userId": "u", "originalTimestamp": "2026-11-23T12:59:00Z"},
        NOW,
        batch_defaults={"sentAt": "2026-11-23T13:00:00Z"},
    )
    assert skewed.timestamp == NOW - timedelta(minutes=1)
    assert parse_call({"type": "track", "event": "e", "userId": "u"}, NOW).timestamp == NOW


def test_page_calls_take_url_and_title_from_context_page() -> None:
    call = parse_call(
        {
            "anonymousId": "a",
            "name": "Home",
            "context": {"page": {"url": "https://s.test/", "title": "Shop"}},
        },
        NOW,
        "page",
    )
    assert call.name == "page_viewed"
    assert call.properties == {"url": "https://s.test/", "title": "Shop", "name": "Home"}


def test_a_missing_message_id_gets_one_and_numeric_ids_become_strings() -> None:
    call = parse_call({"type": "track", "event": "e", "userId": 42}, NOW)
    assert call.user_id == "42" and call.message_id.startswith("af-")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "track", "event": "e", "userId": True}, "userId"),
        ({"type": "track", "event": "  ", "userId": "u"}, "event"),
        ({"type": "track", "event": "e", "userId": "u", "context": "x"}, "context"),
        (
            {"type": "track", "event": "e", "userId": "u", "properties": {"a": [1, 10**40]}},
            "properties.a[1]",
        ),
        (
            {
                "type": "track",
                "event": "e",
                "userId": "u",
                "sentAt": "x",
                "originalTimestamp": "2026-11-23T12:59:00Z",
            },
            "sentAt",
        ),
        # Found by the fuzz: each of these used to crash or fail in storage (500 / 503).
        (
            {"type": "track", "event": "e", "userId": "u", "timestamp": "0001-01-01T00:00+01:00"},
            "timestamp",
        ),
        (
            {"type": "track", "event": "e", "userId": "u", "timestamp": "9999-12-31T23:00-01:00"},
            "timestamp",
        ),
        (
            {
                "type": "track",
                "event": "e",
                "userId": "u",
                "originalTimestamp": "0001-01-01T00:00:00Z",
                "sentAt": "9999-12-31T00:00:00Z",
            },
            "sentAt",
        ),
        ({"type": "identify", "userId": "u", "traits": {"": None}}, "traits"),
    ],
)
def test_errors_name_the_field(raw: dict, field: str) -> None:
    with pytest.raises(CallError) as error:
        parse_call(raw, NOW)
    assert error.value.field == field


def test_identity_keys_are_normalised() -> None:
    assert identity_key("email", " Ann@Example.COM ") == "email:ann@example.com"
    assert identity_key("phone", "+44 20 7946 0958") == "phone:+442079460958"
    assert identity_key("phone", "(415) 555-2671", "US") == "phone:+14155552671"
    assert identity_key("user", 7) == "user:7"
    for kind, value in [
        ("email", "nope"),
        ("phone", "12"),
        ("phone", "4155552671"),
        ("fax", "1"),
        ("user", " "),
    ]:
        with pytest.raises(InvalidIdentity):
            identity_key(kind, value)
    assert strength("user:1") < strength("email:a@b.c") < strength("anon:x")


def test_a_call_carries_its_ids_and_the_email_and_phone_of_its_traits() -> None:
    call = parse_call(
        {
            "type": "identify",
            "anonymousId": "a",
            "userId": "u",
            "traits": {"email": "A@B.co", "phone": "not a phone"},
        },
        NOW,
    )
    assert identities_of(call).keys == ("user:u", "anon:a", "email:a@b.co")
    alias = identities_of(parse_call({"type": "alias", "previousId": "p", "userId": "u"}, NOW))
    assert alias.keys == ("user:u", "user:p", "anon:p")
    assert alias.lookup_only == ("user:p", "anon:p")


@pytest.mark.parametrize(
    ("url", "referrer", "source", "new"),
    [
        ("https://s.test/?utm_source=fb&utm_medium=cpc&utm_campaign=x", "", "fb", True),
        ("https://s.test/", "https://www.google.com/search", "www.google.com", True),
        ("https://s.test/p", "https://s.test/", "direct", False),
        ("https://s.test/", "", "direct", False),
    ],
)
def test_touches(url: str, referrer: str, source: str, new: bool) -> None:
    call = parse_call(
        {"type": "page", "anonymousId": "a", "properties": {"url": url, "referrer": referrer}}, NOW
    )
    touched = touch_of(call)
    assert touched is not None
    assert touched[0]["source"] == source and touched[1] is new


def test_combine_newest_attributes_win_first_touch_kept_counts_add() -> None:
    old = {
        "attributes": {"name": "Ann", "city": "Oslo"},
        "first_seen": NOW - timedelta(days=9),
        "last_seen": NOW - timedelta(days=5),
        "first_touch": {"source": "ads"},
        "page_views": 3,
        "consents": {"email": {"granted": True, "at": "2026-11-01"}},
    }
    new = {
        "attributes": {"city": "Bergen"},
        "first_seen": NOW - timedelta(days=1),
        "last_seen": NOW,
        "first_touch": {"source": "direct"},
        "page_views": 2,
        "consents": {"email": {"granted": False, "at": "2026-11-20"}},
    }
    combined = combine(new, old)
    assert combined["attributes"] == {"name": "Ann", "city": "Bergen"}
    assert combined["first_touch"] == {"source": "ads"}
    assert combined["first_seen"] == old["first_seen"] and combined["last_seen"] == NOW
    assert combined["page_views"] == 5
    assert combined["consents"]["email"]["granted"] is False


def test_retention_dedupe_window_and_phone_region_settings() -> None:
    from chalicelib.config import Settings, SettingsError

    defaults = Settings.from_env({})
    assert (defaults.event_retention_days, defaults.dedupe_window_days) == (400, 14)
    tuned = Settings.from_env(
        {"AUTOFUNNEL_EVENT_RETENTION_DAYS": "30", "AUTOFUNNEL_PHONE_REGION": "us"}
    )
    assert (tuned.event_retention_days, tuned.phone_region) == (30, "US")
    with pytest.raises(SettingsError, match="AUTOFUNNEL_EVENT_RETENTION_DAYS"):
        Settings.from_env({"AUTOFUNNEL_EVENT_RETENTION_DAYS": "-1"})
