"""Caps on the shape and size of what a caller may send and what one contact may hold.

A public write key is enough to call the API, so every request is bounded: no body, call,
trait or profile can grow past what DynamoDB stores (400 KB per item, 32 nesting levels), and
a breach is a 4xx naming the limit (`limit` in the JSON body). A contact at its cap keeps
taking normal events: only the excess is refused.

Worst case for one contact's traits: MAX_TRAITS_PER_CONTACT x (MAX_TRAIT_NAME +
MAX_TRAIT_VALUE_BYTES) = 200 x 1.15 KB = 230 KB, well under the 400 KB item; if the item still
would not fit, the traits that do not fit are refused (`profile_bytes`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_CALL_BYTES = 32 * 1024  # Segment: 32 KB per call
MAX_BATCH_BYTES = 500 * 1024  # Segment: 500 KB per batch request
MAX_BATCH_CALLS = 100  # the Segment and RudderStack server libraries send at most 100 per batch
# DynamoDB nests 32 levels counting the item: traits/properties/context (level 1 of the item)
# may hold 31 levels counting themselves.
MAX_NESTING = 31
MAX_TRAITS_PER_CONTACT = 200
MAX_TRAIT_NAME = 128  # characters
MAX_TRAIT_VALUE_BYTES = 1024  # the trait's value as compact UTF-8 JSON
CONSENT_TRAIT = "consents"  # identify traits {"consents": {"email": true}}: not a profile trait


@dataclass(frozen=True)
class Limit:
    name: str  # what the JSON error's `limit` says
    value: int
    status: int  # the HTTP status a breach answers
    what: str  # "traits per contact", for messages


CALL_BYTES = Limit("call_bytes", MAX_CALL_BYTES, 413, "bytes per call")
BATCH_BYTES = Limit("batch_bytes", MAX_BATCH_BYTES, 413, "bytes per batch request")
BATCH_CALLS = Limit("batch_calls", MAX_BATCH_CALLS, 413, "calls per batch")
NESTING = Limit("nesting_depth", MAX_NESTING, 400, "levels of nesting")
TRAIT_NAME = Limit("trait_name_length", MAX_TRAIT_NAME, 400, "characters per trait name")
TRAIT_VALUE = Limit("trait_value_bytes", MAX_TRAIT_VALUE_BYTES, 413, "bytes per trait value")
TRAITS_PER_CONTACT = Limit("traits_per_contact", MAX_TRAITS_PER_CONTACT, 422, "traits per contact")
PROFILE_BYTES = Limit("profile_bytes", 400 * 1024, 422, "bytes per contact profile")


class LimitExceeded(ValueError):
    """`field` (a dotted path, or None for the whole call) breaks `limit`."""

    def __init__(self, limit: Limit, field: str | None, message: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.field = field
        self.message = message


def json_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def loads(raw: bytes | str, max_depth: int = MAX_NESTING) -> Any:
    """JSON from a request body, bounded: ValueError for invalid JSON (NaN and Infinity too:
    DynamoDB cannot store them), LimitExceeded past `max_depth` levels of nesting. A hostile
    depth (`[[[[…`) is refused without exhausting the stack."""

    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    def finite(text: str) -> float:
        number = float(text)
        if math.isinf(number):  # 1e400
            raise ValueError(f"{text} is out of range")
        return number

    try:
        value = json.loads(raw, parse_constant=reject, parse_float=finite)
    except RecursionError:
        value = _TOO_DEEP
    if value is _TOO_DEEP or depth(value) > max_depth:
        raise LimitExceeded(NESTING, "body", f"the body nests deeper than {max_depth} levels")
    return value


_TOO_DEEP = object()


def depth(value: Any) -> int:
    """Levels of objects and arrays: a scalar is 0, {} is 1, {"a": []} is 2. Iterative, so a
    hostile depth cannot exhaust the stack."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def check_traits(traits: dict[str, Any], path: str = "traits") -> None:
    """One identify's traits: how many, how long their names, how big each value."""
    names = [name for name in traits if name != CONSENT_TRAIT]
    if len(names) > MAX_TRAITS_PER_CONTACT:
        raise LimitExceeded(
            TRAITS_PER_CONTACT,
            path,
            f"{path} has {len(names)} traits; a contact holds at most {MAX_TRAITS_PER_CONTACT}",
        )
    small = json_bytes(traits) <= MAX_TRAIT_VALUE_BYTES  # then no single value can be too big
    for name in names:
        if len(name) > MAX_TRAIT_NAME:
            raise LimitExceeded(
                TRAIT_NAME,
                f"{path}.{name[:40]}…",
                f"a trait name is longer than {MAX_TRAIT_NAME} characters",
            )
        size = 0 if small else json_bytes(traits[name])
        if size > MAX_TRAIT_VALUE_BYTES:
            raise LimitExceeded(
                TRAIT_VALUE,
                f"{path}.{name}",
                f"{path}.{name} is {size} bytes; a trait value may take {MAX_TRAIT_VALUE_BYTES}",
            )


def profile_traits(traits: dict[str, Any]) -> set[str]:
    """The trait names an identify writes on the profile (consents live elsewhere)."""
    return {name for name in traits if name and name != CONSENT_TRAIT}


def fit_traits(
    calls: Sequence[Any], existing: Iterable[str] | None
) -> tuple[list[Any], list[tuple[Any, Limit]]]:
    """Which of one contact's calls (time order) the profile can take: (kept, refused with the
    limit). `existing`: the trait names already on the profile, or None when the profile is
    out of bytes (then every call that writes traits is refused). Calls without traits are
    always kept, so a full contact still takes its normal events."""
    kept: list[Any] = []
    refused: list[tuple[Any, Limit]] = []
    names = None if existing is None else set(existing)
    for call in calls:
        changes = call.type == "identify" and getattr(call, "changes", True)
        written = profile_traits(call.traits) if changes else set()
        if not written:
            kept.append(call)
        elif names is None:
            refused.append((call, PROFILE_BYTES))
        elif written - names and len(names | written) > MAX_TRAITS_PER_CONTACT:
            refused.append((call, TRAITS_PER_CONTACT))
        else:
            names |= written
            kept.append(call)
    return kept, refused


def refusal_message(limit: Limit) -> str:
    if limit is PROFILE_BYTES:
        return "the contact's profile is full (DynamoDB's 400 KB item): its traits were refused"
    return (
        f"the contact would hold more than {MAX_TRAITS_PER_CONTACT} traits: this call's new "
        "traits were refused (the contact's other events are still accepted)"
    )
