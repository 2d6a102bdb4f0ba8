"""The Segment HTTP tracking spec: one raw call (dict) in, a validated `Call` out.

Validation errors name the offending field (`CallError.field`) so a batch can report each bad
call and still store the good ones.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chalicelib.core.trust import CLAIM
from chalicelib.ingest import limits
from chalicelib.ingest.limits import MAX_BATCH_BYTES, MAX_CALL_BYTES, Limit, LimitExceeded

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_CALL_BYTES",
    "Call",
    "CallError",
    "check_storable",
    "parse_call",
]

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")
MAX_EVENT_NAME = 200
MAX_ID_LENGTH = 512
# The events funnels match on for calls that carry no event name of their own.
EVENT_NAMES = {
    "identify": "identify",
    "page": "page_viewed",
    "screen": "screen_viewed",
    "group": "group",
    "alias": "alias",
}


class CallError(ValueError):
    def __init__(self, field: str | None, message: str, limit: Limit | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.limit = limit  # set when the call breaks one of `limits`


@dataclass(frozen=True)
class Call:
    type: str
    message_id: str
    name: str  # the event name funnels match on
    timestamp: datetime
    anonymous_id: str | None = None
    user_id: str | None = None
    previous_id: str | None = None  # alias
    group_id: str | None = None  # group
    traits: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    # Identity keys vouched for by a verified server-side source (a signed shop or messenger
    # webhook); never read from a client's JSON, so a browser cannot claim a Telegram chat.
    identities: tuple[str, ...] = ()
    # How much the source proves (chalicelib.core.trust), set by the route from the key used
    # and the identity hash; `anchor` is the identity key a valid hash proved.
    trust: str = CLAIM
    anchor: str | None = None
    user_hash: str | None = None  # as sent (`userHash` or `context.userHash`); never stored
    # Set by identity resolution: False when the rules keep its traits and consents off the
    # contact it landed on (a claim about a known person, or about somebody else).
    changes: bool = True


def parse_call(
    raw: Any,
    received_at: datetime,
    call_type: str | None = None,
    batch_defaults: dict[str, Any] | None = None,
) -> Call:
    """Validate one call; `call_type` comes from the path (/v1/track) or the call's own `type`."""
    if not isinstance(raw, dict):
        raise CallError(None, f"a call must be a JSON object, not {_json_type(raw)}")
    try:
        size = limits.json_bytes(raw)
    except RecursionError as error:  # only a call built in code can be this deep
        raise CallError(None, "the call nests far too deep", limits.NESTING) from error
    if size > MAX_CALL_BYTES:
        raise CallError(
            None, f"the call is larger than {MAX_CALL_BYTES // 1024} KB", limits.CALL_BYTES
        )
    defaults = batch_defaults or {}
    kind = call_type or raw.get("type")
    if kind not in CALL_TYPES:
        raise CallError("type", f"type must be one of {', '.join(CALL_TYPES)}, not {kind!r}")

    anonymous_id = _optional_id(raw, "anonymousId")
    user_id = _optional_id(raw, "userId")
    previous_id = _optional_id(raw, "previousId")
    group_id = _optional_id(raw, "groupId")
    if kind == "alias":
        if previous_id is None:
            raise CallError("previousId", "alias needs previousId (the id being replaced)")
        if user_id is None:
            raise CallError("userId", "alias needs userId (the new id)")
    elif anonymous_id is None and user_id is None:
        raise CallError("userId", "every call needs userId or anonymousId")
    if kind == "group" and group_id is None:
        raise CallError("groupId", "group needs groupId")

    traits = _object(raw, "traits")
    properties = _object(raw, "properties")
    context = {**_object(defaults, "context"), **_object(raw, "context")}
    user_hash = _user_hash(raw, context)
    if kind == "track":
        name = raw.get("event")
        if not isinstance(name, str) or not name.strip():
            raise CallError("event", "track needs event: the event's name as a non-empty string")
        if len(name) > MAX_EVENT_NAME:
            raise CallError("event", f"event is longer than {MAX_EVENT_NAME} characters")
        name = name.strip()
    else:
        name = EVENT_NAMES[kind]
    if kind in ("page", "screen"):
        properties = _page_properties(raw, properties, context)
    elif kind == "identify":
        # RudderStack's clients send identify traits in context.traits only.
        context_traits = context.get("traits")
        if isinstance(context_traits, dict):
            traits = {**context_traits, **traits}
        properties = dict(traits)
    elif kind == "group":
        properties = {"group_id": group_id, "traits": traits}
    elif kind == "alias":
        properties = {"previous_id": previous_id}

    message_id = _optional_id(raw, "messageId") or f"af-{uuid.uuid4()}"
    timestamp = _timestamp(raw, defaults, received_at)
    for path, value in (("traits", traits), ("properties", properties), ("context", context)):
        check_storable(value, path)
    if kind == "identify":
        try:
            limits.check_traits(traits)
        except LimitExceeded as error:
            raise CallError(error.field, error.message, error.limit) from error
    return Call(
        type=kind,
        message_id=message_id,
        name=name,
        timestamp=timestamp,
        anonymous_id=anonymous_id,
        user_id=user_id,
        previous_id=previous_id,
        group_id=group_id,
        traits=traits,
        properties=properties,
        context=context,
        user_hash=user_hash,
    )


MAX_HASH_LENGTH = 128  # a hex SHA-256 is 64


def _user_hash(raw: dict[str, Any], context: dict[str, Any]) -> str | None:
    """The identity hash (Intercom's `user_hash`): on the call, or in its context. Taken out of
    the context so it is never stored: it is a credential."""
    found = context.pop("userHash", None)
    value = raw.get("userHash", found)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_HASH_LENGTH:
        raise CallError("userHash", "userHash must be the hex HMAC-SHA256 of the user id or email")
    return value.strip().lower()


def _optional_id(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CallError(name, f"{name} must be a string, not {_json_type(value)}")
    text = str(value).strip()
    if len(text) > MAX_ID_LENGTH:
        raise CallError(name, f"{name} is longer than {MAX_ID_LENGTH} characters")
    return text or None


def _object(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CallError(name, f"{name} must be a JSON object, not {_json_type(value)}")
    return value


def _page_properties(
    raw: dict[str, Any], properties: dict[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    """Page calls carry url/path/title in properties or context.page (analytics.js sends both)."""
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    merged = {
        key: page[key] for key in ("url", "path", "title", "referrer", "search") if key in page
    }
    merged.update(properties)
    for key in ("name", "category"):
        if isinstance(raw.get(key), str) and key not in merged:
            merged[key] = raw[key]
    return merged


# Far enough for any import or simulation, near enough that funnel waits never overflow.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _timestamp(raw: dict[str, Any], defaults: dict[str, Any], received_at: datetime) -> datetime:
    """Segment's rule: an explicit `timestamp` is kept; a device's `originalTimestamp` is
    corrected for clock skew as receivedAt - (sentAt - originalTimestamp). The result must lie
    between 1970 and 2200: funnels schedule from it."""
    name = "timestamp"
    if raw.get("timestamp") is not None:
        at = parse_time(raw["timestamp"], "timestamp")
    elif raw.get("originalTimestamp") is not None:
        name = "originalTimestamp"
        at = parse_time(raw["originalTimestamp"], name)
        sent = raw.get("sentAt", defaults.get("sentAt"))
        if sent is not None:
            try:
                at = received_at - (parse_time(sent, "sentAt") - at)
            except OverflowError as error:
                raise CallError(
                    "sentAt", "sentAt and originalTimestamp are too far apart"
                ) from error
    else:
        return received_at
    if not EARLIEST <= at < LATEST:
        raise CallError(name, f"{name} must lie between 1970 and 2200, not {at.isoformat()}")
    return at


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")


def parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str) or not _ISO.match(value):
        raise CallError(name, f"{name} must be an ISO 8601 date-time string, not {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise CallError(name, f"{name} is not a valid ISO 8601 date-time: {value!r}") from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as error:  # 0001-01-01T00:00+01:00 has no UTC time
        raise CallError(name, f"{name} is out of range: {value!r}") from error


def check_storable(value: dict[str, Any], path: str) -> None:
    """CallError unless DynamoDB can store `value`: at most MAX_NESTING levels (counting
    `value` itself), no empty field names, numbers finite with at most 38 significant digits
    and a magnitude from 1e-130 to 1e126. One walk; the path is only spelled out on an error."""
    _walk(value, [path], 1)


def _walk(value: Any, parts: list[str], level: int) -> None:
    if isinstance(value, dict | list):
        if level > limits.MAX_NESTING:
            where = parts[0]
            raise CallError(
                where,
                f"{where} nests deeper than {limits.MAX_NESTING} levels (DynamoDB stores 32)",
                limits.NESTING,
            )
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if key == "":
                raise CallError(
                    _spelled(parts), f"{_spelled(parts)} has a field with an empty name"
                )
            parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
            _walk(item, parts, level + 1)
            parts.pop()
    elif (
        isinstance(value, float | int) and not isinstance(value, bool) and not _plain_number(value)
    ):
        where = _spelled(parts)
        if isinstance(value, float) and not math.isfinite(value):
            raise CallError(where, f"{where} is not a finite number")
        number = Decimal(str(value))
        digits = len(number.as_tuple().digits)
        if number != 0 and (digits > 38 or not 1e-130 <= abs(number) < Decimal("1e126")):
            raise CallError(where, f"{where} is out of the storable number range")


def _plain_number(value: float) -> bool:
    """The common case, storable without a Decimal: a small int, or a float in range."""
    if isinstance(value, int):
        return abs(value) < 10**38
    return value == 0 or 1e-130 <= abs(value) < 1e126


def _spelled(parts: list[str]) -> str:
    return "".join(parts)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)
