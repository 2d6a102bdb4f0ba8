"""Story files: a contact and a list of timed inputs, for `autofunnel simulate` and tests.

    funnel: ../abandoned_cart.yaml    # optional; relative to the story file (file or dir)
    start: 2024-03-04T10:00:00Z       # fake clock origin (default 2024-01-01T09:00Z, Monday)
    contact:
      id: c1
      timezone: Europe/Berlin
      channels: [email, telegram]     # reachable channels (has an address)
      consents: {sms: false}
      attributes: {first_name: Anna}
      figures: {orders_count: 2, first_touch: {source: google}}   # see core/figures.py
      tags: [vip]
      segments: []
      rfm: at_risk
      history: ["-40d: event order_completed {total: 90}"]   # events before the start
    links: {unsubscribe: https://...} # optional, defaults to sample links
    inputs:                           # offsets are from `start`, not from the previous line
      - "+0: event cart_updated {items_count: 2}"  # quote lines whose props contain ': '
      - +2h: opened m1
      - +3d: {event: order_completed, properties: {total: 120}}
    until: +30d                       # run the clock this far (default: until nothing is pending)
    expect:
      status: converted               # or {funnel_name: status, ...}
      sends: ["+30m m1 email", "+1d30m m2 email"]   # exact list, in order: OFFSET STEP CHANNEL
      unreachable: [popup]            # sends none of whose channels reaches the contact

Commands: `event NAME {props}`, `delivered|opened|clicked|bounced|replied|unsubscribed|failed
STEP` (STEP may be `funnel/step`), `set {k: v}`, `unset k`, `tag T`, `untag T`, `segment S`
(enters a segment: emits segment_entered), `leave_segment S`, `rfm R`, `link CHANNEL` (the
contact becomes reachable there: emits channel_linked), `optout CHANNEL`, `enroll [FUNNEL]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from chalicelib.core.decisions import MESSAGE_STATUSES
from chalicelib.core.durations import parse_duration
from chalicelib.core.problems import FunnelValidationError, Problem, locate
from chalicelib.core.state import utc
from chalicelib.core.validate import load_yaml

DEFAULT_START = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
COMMANDS = (
    *MESSAGE_STATUSES,
    "event",
    "set",
    "unset",
    "tag",
    "untag",
    "segment",
    "leave_segment",
    "rfm",
    "link",
    "optout",
    "enroll",
)


@dataclass(frozen=True)
class StoryInput:
    offset: timedelta
    command: str
    arg: str = ""  # event name, step, tag, channel, funnel ...
    properties: dict[str, Any] = field(default_factory=dict)  # event props, or `set` values


@dataclass
class Story:
    name: str
    start: datetime
    contact: dict[str, Any]
    inputs: list[StoryInput]
    history: list[StoryInput] = field(default_factory=list)
    links: dict[str, str] | None = None
    until: timedelta | None = None
    funnel: str | None = None
    expect: dict[str, Any] = field(default_factory=dict)


def parse_offset(key: Any) -> timedelta:
    if isinstance(key, int) and not isinstance(key, bool) and key == 0:
        return timedelta(0)  # YAML reads `+0` as the integer 0
    text = str(key).strip()
    negative = text.startswith("-")
    delta = parse_duration(text.lstrip("-"))
    return -delta if negative else delta


def _props(text: str) -> dict[str, Any]:
    text = text.strip()
    if not text:
        return {}
    value = yaml.safe_load(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected {{key: value}} properties, got {text!r}")
    for key, v in value.items():
        if v is None and ":" in str(key):  # YAML reads {a:1} as the key "a:1"
            raise ValueError(
                f"write {{{str(key).replace(':', ': ', 1)}}} with a space after "
                "the colon, and quote the whole line"
            )
    return value


def parse_command(offset: timedelta, value: Any) -> StoryInput:
    if isinstance(value, dict):
        if "event" in value:
            extra = set(value) - {"event", "properties"}
            if extra:
                raise ValueError(f"unknown keys {sorted(extra)} (use `properties:`)")
            return StoryInput(
                offset, "event", str(value["event"]), dict(value.get("properties") or {})
            )
        if len(value) != 1:
            raise ValueError("a command mapping has one key, e.g. {opened: m1}")
        ((cmd, arg),) = value.items()
        if cmd == "set":
            return StoryInput(offset, "set", "", dict(arg))
        return parse_command(offset, f"{cmd} {arg}")
    if not isinstance(value, str):
        raise ValueError(f"cannot read command {value!r}")
    head, _, rest = value.strip().partition(" ")
    if head not in COMMANDS:
        raise ValueError(f"unknown command {head!r} (known: {', '.join(COMMANDS)})")
    if head == "event":
        name, _, props = rest.strip().partition(" ")
        if not name:
            raise ValueError("`event` needs a name")
        return StoryInput(offset, "event", name, _props(props))
    if head == "set":
        return StoryInput(offset, "set", "", _props(rest))
    if head != "enroll" and not rest.strip():
        raise ValueError(f"`{head}` needs an argument")
    return StoryInput(offset, head, rest.strip())


def parse_item(item: Any) -> StoryInput:
    """`"+2h: opened m1"` or `{+2h: opened m1}` or `{+3d: {event: x, properties: {...}}}`."""
    if isinstance(item, str):
        key, sep, value = item.partition(":")
        if not sep:
            raise ValueError(f"expected 'OFFSET: command', got {item!r}")
        return parse_command(parse_offset(key), value.strip())
    if isinstance(item, dict) and len(item) == 1:
        ((key, value),) = item.items()
        return parse_command(parse_offset(key), value)
    raise ValueError(f"expected '- OFFSET: command', got {item!r}")


def _start(value: Any) -> datetime:
    if value is None:
        return DEFAULT_START
    if isinstance(value, datetime):
        return utc(value)
    return utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


_KNOWN = {"name", "description", "funnel", "start", "contact", "links", "inputs", "until", "expect"}


def parse_story(text: str, filename: str) -> Story:
    data, root = load_yaml(text, filename)
    problems: list[Problem] = []

    def fail(loc: tuple[str | int, ...], msg: str) -> None:
        line, fld = locate(root, loc)
        problems.append(Problem(filename, line, fld, msg))

    for key in set(data) - _KNOWN:
        fail((key,), f"unknown field {key!r}")
    contact = dict(data.get("contact") or {})

    def items(loc: tuple[str | int, ...], raw: Any) -> list[StoryInput]:
        out = []
        for i, item in enumerate(raw or []):
            try:
                out.append(parse_item(item))
            except (ValueError, yaml.YAMLError) as exc:
                fail((*loc, i), str(exc).splitlines()[0])
        return out

    inputs = items(("inputs",), data.get("inputs"))
    history = items(("contact", "history"), contact.pop("history", None))
    try:
        start = _start(data.get("start"))
    except ValueError as exc:
        fail(("start",), str(exc))
        start = DEFAULT_START
    until = None
    if data.get("until") is not None:
        try:
            until = parse_offset(data["until"])
        except ValueError as exc:
            fail(("until",), str(exc))
    if problems:
        raise FunnelValidationError(problems)
    return Story(
        name=str(data.get("name") or filename),
        start=start,
        contact=contact,
        inputs=inputs,
        history=history,
        links=data.get("links"),
        until=until,
        funnel=data.get("funnel"),
        expect=dict(data.get("expect") or {}),
    )
