"""Property filters (`where:`) — the one matching language used by triggers, goals, exits,
wait_until events and conditions.

YAML shorthand: `status: paid` means eq, `status: [paid, shipped]` means in, `coupon: null`
means "absent"; otherwise an operator map: `items_count: {gt: 0}`. Keys are dotted paths into
the properties (`cart.items.0.sku`). A comparison between incompatible types is simply false:
a marketer's filter must never crash the engine.

For what people write (a chat message's `text`): `keyword: [guide, pdf]` holds when one of the
keywords (or phrases) occurs as whole words, ignoring case and punctuation ("GUIDE please!"
matches `guide`); `regex: "^send (me )?the guide"` is a case-insensitive search.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any

from chalicelib.core.plain import After, Before, model

Scalar = str | int | float | bool
MAX_TEXT = 2000  # keyword/regex look at this much of a message: a long paste costs no more
MAX_PATTERN = 500


def check_keywords(value: Any) -> Any:
    """A keyword or a list of them (words or phrases), as a list; ValueError if one has none."""
    words = [value] if isinstance(value, str) else value
    if isinstance(words, list) and not all(isinstance(w, str) and _words(w) for w in words):
        raise ValueError("keywords must be words (letters or digits), e.g. [guide, pdf]")
    return words


def check_regex(value: str | None) -> str | None:
    if value is not None:
        if len(value) > MAX_PATTERN:
            raise ValueError(f"a regex is at most {MAX_PATTERN} characters")
        try:
            _compiled(value)
        except re.error as exc:
            raise ValueError(f"invalid regex {value!r}: {exc}") from exc
    return value


def _words(text: str) -> str:
    """Lower-cased words separated by single spaces: "GUIDE, please!" -> "guide please"."""
    return " ".join(re.findall(r"\w+", text.casefold()))


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@model
class Match:
    """Operators for one property; every operator given must hold."""

    eq: Scalar | None = None
    ne: Scalar | None = None
    gt: float | str | None = None
    gte: float | str | None = None
    lt: float | str | None = None
    lte: float | str | None = None
    in_: list[Scalar] | None = None
    not_in: list[Scalar] | None = None
    contains: Scalar | None = None
    exists: bool | None = None
    # whole words or phrases, any case (a string: one keyword)
    keyword: Annotated[list[str] | None, Before(check_keywords)] = None
    regex: Annotated[str | None, After(check_regex)] = None  # case-insensitive


def _shorthand(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value  # let validation report "should be a mapping"
    out: dict[str, Any] = {}
    for key, v in value.items():
        if v is None:
            out[key] = {"exists": False}
        elif isinstance(v, list):
            out[key] = {"in": v}
        elif isinstance(v, (Mapping, Match)):
            out[key] = v
        else:
            out[key] = {"eq": v}
    return out


Where = Annotated[
    dict[str, Match],
    Before(_shorthand, json_input=dict[str, Match | Scalar | list[Scalar] | None]),
]

MISSING = object()


def get_path(data: Any, path: str) -> Any:
    """Follow a dotted path through dicts and lists; MISSING when any hop is absent."""
    cur = data
    for part in path.split("."):
        if isinstance(cur, Mapping):
            if part not in cur:
                return MISSING
            cur = cur[part]
        elif isinstance(cur, list | tuple) and part.lstrip("-").isdigit():
            idx = int(part)
            if not -len(cur) <= idx < len(cur):
                return MISSING
            cur = cur[idx]
        else:
            return MISSING
    return cur


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    # Shops send numbers as strings ("120.00"); compare numerically when one side is a number.
    num = (int, float)
    if isinstance(a, num) and not isinstance(a, bool) and isinstance(b, str):
        try:
            return a, float(b)
        except ValueError:
            return a, b
    if isinstance(b, num) and not isinstance(b, bool) and isinstance(a, str):
        try:
            return float(a), b
        except ValueError:
            return a, b
    return a, b


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) != isinstance(expected, bool):
        return False
    actual, expected = _coerce(actual, expected)
    return bool(actual == expected)


def _compare(actual: Any, bound: Any, op: str) -> bool:
    actual, bound = _coerce(actual, bound)
    if isinstance(actual, bool) or isinstance(bound, bool):
        return False
    try:
        if op == "gt":
            return bool(actual > bound)
        if op == "gte":
            return bool(actual >= bound)
        if op == "lt":
            return bool(actual < bound)
        return bool(actual <= bound)
    except TypeError:
        return False


def match_value(actual: Any, m: Match) -> bool:
    present = actual is not MISSING and actual is not None
    if m.exists is not None and m.exists != present:
        return False
    if not present:
        # An absent value satisfies only negative filters (ne, not_in, exists: false).
        positive = (m.eq, m.gt, m.gte, m.lt, m.lte, m.in_, m.contains, m.keyword, m.regex)
        return all(v is None for v in positive)
    if m.eq is not None and not _equal(actual, m.eq):
        return False
    if m.ne is not None and _equal(actual, m.ne):
        return False
    for op in ("gt", "gte", "lt", "lte"):
        bound = getattr(m, op)
        if bound is not None and not _compare(actual, bound, op):
            return False
    if m.in_ is not None and not any(_equal(actual, x) for x in m.in_):
        return False
    if m.not_in is not None and any(_equal(actual, x) for x in m.not_in):
        return False
    if (m.keyword is not None or m.regex is not None) and not _text_matches(actual, m):
        return False
    if m.contains is not None:
        if isinstance(actual, str):
            return isinstance(m.contains, str) and m.contains in actual
        if isinstance(actual, list | tuple):
            return any(_equal(x, m.contains) for x in actual)
        return False
    return True


def _text_matches(actual: Any, m: Match) -> bool:
    if not isinstance(actual, str):
        return False
    text = actual[:MAX_TEXT]
    if m.keyword is not None:
        padded = f" {_words(text)} "
        if not any(f" {_words(word)} " in padded for word in m.keyword):
            return False
    return m.regex is None or _compiled(m.regex).search(text) is not None


def matches(data: Mapping[str, Any], where: Mapping[str, Match]) -> bool:
    """True when every filter in `where` holds for `data` (an empty filter matches all)."""
    return all(match_value(get_path(data, path), m) for path, m in where.items())
