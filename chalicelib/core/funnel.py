"""The funnel language: frozen dataclasses of a funnel definition (see docs/funnels.md).

Contract for the runtime:
    validate.parse_funnel(text, filename) -> Funnel   # YAML -> validated Funnel, or raises
        FunnelValidationError (.problems: list[Problem(file, line, field, message)])
    funnel.to_dict() -> dict        # JSON-safe; store it (e.g. in DynamoDB)
    Funnel.from_dict(d) -> Funnel   # cheap: no pydantic (plain.load), templates compile lazily
    funnel.name, funnel.version (int, set on upload, default 0), funnel.tags
    funnel_json_schema() -> dict    # JSON Schema of the YAML format (for editors)

Models are frozen so a Funnel can be cached per Lambda container and shared safely. pydantic
validates them (validate.py, `plain.adapter`) only where funnels are written or checked.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, Literal

from chalicelib.core import plain
from chalicelib.core.conditions import (
    Channel,
    Condition,
    EventCond,
    OneOrManyChannels,
    OneOrManyNames,
    OneOrManyReactions,
)
from chalicelib.core.durations import Duration, TimeOfDay
from chalicelib.core.matching import Match, Where, check_keywords, check_regex
from chalicelib.core.plain import After, Before, Check, OneOf, model

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]*$"
END = "end"  # a reserved `next` target: finish the enrollment here
StepId = Annotated[str, Check(pattern=ID_PATTERN)]
Name64 = Annotated[str, Check(pattern=ID_PATTERN, max_length=64)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = Weekday.__args__  # type: ignore[attr-defined]
STAGES = ("lead_magnet", "tripwire", "core", "upsell", "downsell", "warmup", "winback")

# Events the runtime emits itself so that funnels can react to them (see docs/funnels.md).
SEGMENT_ENTERED = "segment_entered"  # properties: {segment}
FUNNEL_ENTERED = "funnel_entered"  # properties: {funnel}
CHANNEL_LINKED = "channel_linked"  # properties: {channel}
# Events of the messenger webhooks that keyword and button triggers match on.
MESSAGE_RECEIVED = "message_received"  # properties: {channel, text}
BUTTON_CLICKED = "button_clicked"  # properties: {channel, button}
ATTRIBUTE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
ONSITE_EXPIRY = timedelta(days=7)  # an on-site message not shown within this long is dropped


def check_timezone(value: str | None) -> str | None:
    if value is not None:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except Exception as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def _exactly_one(model: Any, *names: str) -> None:
    given = [n for n in names if getattr(model, n) not in (None, False)]
    if len(given) != 1:
        raise ValueError(f"give exactly one of: {', '.join(names)}")


# --- content --------------------------------------------------------------------------------


@model
class Button:
    """A link (`url`) or, in chats, a reply button (`id`): pressing it is `button_clicked
    {button: id}` (Telegram callback data, Messenger postback)."""

    text: str
    url: str | None = None
    id: Name64 | None = None  # Telegram: 64 bytes

    def __post_init__(self) -> None:
        _exactly_one(self, "url", "id")


@model
class EmailPart:
    subject: str
    html: str | None = None
    text: str | None = None
    preheader: str | None = None

    def __post_init__(self) -> None:
        if not self.html and not self.text:
            raise ValueError("an email needs an html or a text part")


@model
class TextPart:
    text: str
    buttons: list[Button] = field(default_factory=list)


@model
class Capture:
    """A one-field form under an on-site message: what the person types identifies them."""

    field: Literal["email", "phone"]
    placeholder: str | None = None
    button: str = "Send"


@model
class OnsitePart:
    """A message the snippet shows on the site: a centred `popup`, a `banner` along the top or
    a `chat` bubble in the corner. `html` is a body with simple markup (sanitised: p, br, b,
    strong, i, em, u, a, ul, ol, li, span, h3, h4); `text` a plain one."""

    style: Literal["popup", "banner", "chat"] = "popup"
    title: str | None = None
    text: str | None = None
    html: str | None = None
    buttons: list[Button] = field(default_factory=list)
    capture: Capture | None = None

    def __post_init__(self) -> None:
        _exactly_one(self, "text", "html")


@model
class Content:
    """One message in every channel it may go out on."""

    email: EmailPart | None = None
    sms: TextPart | None = None
    whatsapp: TextPart | None = None
    telegram: TextPart | None = None
    messenger: TextPart | None = None
    instagram: TextPart | None = None
    onsite: OnsitePart | None = None

    def part(self, channel: str) -> EmailPart | TextPart | OnsitePart | None:
        return getattr(self, channel, None)


# --- policies, trigger, goal, exits --------------------------------------------------------


@model
class QuietHours:
    start: TimeOfDay  # e.g. 21:00 ...
    end: TimeOfDay  # ... to 09:00 (wraps midnight when start > end)


@model
class Cap:
    max: Annotated[int, Check(ge=1)]
    per: Duration


@model
class Policy:
    """Send policy. On a step, an absent field inherits the funnel's; `false` switches it off."""

    timezone: Annotated[str | None, After(check_timezone)] = None  # for contacts without one
    quiet_hours: QuietHours | Literal[False] | None = None
    cap: Cap | Literal[False] | None = None


@model
class MessageMatch:
    """A chat message (`message_received`): its text by keywords and/or a regex, optionally
    only on some channels. Empty: any message."""

    keyword: Annotated[list[str] | None, Before(check_keywords)] = None
    regex: Annotated[str | None, After(check_regex)] = None
    channel: OneOrManyChannels | None = None


def _chat_filters(model: Any, chat: MessageMatch | None, field: str = "reply") -> None:
    """`message:` (trigger) / `reply:` (wait_until) and `button:` are shorthand for `event:
    message_received` / `button_clicked` with `where` filters; expanded in place, so the engine
    and the index see plain events and the stored definition needs no shorthand."""
    where = dict(model.where)
    if chat is not None:
        if chat.keyword or chat.regex:
            where["text"] = Match(keyword=chat.keyword or None, regex=chat.regex or None)
        if chat.channel:
            where["channel"] = Match(in_=list(chat.channel))
        object.__setattr__(model, "event", MESSAGE_RECEIVED)
        object.__setattr__(model, field, None)
    elif model.button is not None:
        where["button"] = Match(in_=list(model.button))
        object.__setattr__(model, "event", BUTTON_CLICKED)
        object.__setattr__(model, "button", None)
    else:
        return
    object.__setattr__(model, "where", where)


@model
class DateTrigger:
    attribute: str  # a contact attribute holding a date (YYYY-MM-DD or ISO datetime)
    offset_days: int = 0  # -3: three days before; 1: the day after
    annual: bool = False  # birthdays: match month and day every year


@model
class Trigger:
    """How contacts enter: an event, a chat message or button, entering a segment, a date
    attribute, or API/goto only."""

    event: str | None = None
    message: MessageMatch | None = None  # a chat message matching keywords / a regex
    button: OneOrManyNames | None = None  # a reply button's id
    segment: str | None = None
    date: DateTrigger | None = None
    api: bool = False
    where: Where = field(default_factory=dict)  # filters on the trigger event's properties
    condition: Condition | None = None  # on the contact, checked at entry

    def __post_init__(self) -> None:
        _exactly_one(self, "event", "message", "button", "segment", "date", "api")
        _chat_filters(self, self.message, "message")


@model
class Reentry:
    policy: Literal["once", "once_per_period", "always"] = "once"
    period: Duration | None = None

    def __post_init__(self) -> None:
        if (self.policy == "once_per_period") != (self.period is not None):
            raise ValueError("`period` goes with (and only with) policy once_per_period")


@model
class Goal:
    event: str
    where: Where = field(default_factory=dict)
    value: str | None = None  # property path of the conversion value, e.g. `total`
    within: Duration | None = None  # attribution window from enrollment start


@model
class ExitRule:
    event: str | None = None
    where: Where = field(default_factory=dict)
    condition: Condition | None = None
    entered_funnel: str | None = None  # exit when the contact enters that funnel
    reason: str | None = None

    def __post_init__(self) -> None:
        _exactly_one(self, "event", "condition", "entered_funnel")


@model
class Sample:
    """Sample data the validator renders templates with (merged over built-in defaults)."""

    contact: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] = field(default_factory=dict)


# --- steps --------------------------------------------------------------------------------


@model
class _Step:
    id: StepId


@model
class SendStep(_Step):
    """Send one message: the first reachable channel of `channels` (an ordered fallback)."""

    kind: Literal["send"]
    channel: Channel | None = None  # shorthand for a one-element `channels`
    channels: list[Channel] = field(default_factory=list)  # ordered fallback
    template: str | None = None  # a key of the funnel's `templates`
    content: Content | None = None  # or the message inline
    stage: str | None = None  # product-matrix stage label, e.g. tripwire
    policy: Policy | None = None
    expires: Duration | None = None  # on-site: not shown within this long after sending: dropped
    next: StepId | None = None

    def __post_init__(self) -> None:
        if self.channel is not None:
            if self.channels:
                raise ValueError("give `channel` or `channels`, not both")
            object.__setattr__(self, "channels", [self.channel])
            object.__setattr__(self, "channel", None)
        if not self.channels:
            raise ValueError("a send needs `channel` or `channels`")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("a channel is listed twice in `channels`")
        _exactly_one(self, "template", "content")


@model
class WaitStep(_Step):
    """Let time pass: `duration` (from now, or from entry with anchor: enrollment), then
    optionally until the local time `at` on one of `weekdays`."""

    kind: Literal["wait"]
    duration: Duration | None = None
    anchor: Literal["step", "enrollment"] = "step"  # count `duration` from now or from entry
    at: TimeOfDay | None = None  # then until this local time of day ...
    weekdays: list[Weekday] | None = None  # ... on one of these days
    next: StepId | None = None

    def __post_init__(self) -> None:
        if self.duration is None and self.at is None:
            raise ValueError("a wait needs `duration`, `at`, or both")
        if self.weekdays is not None and self.at is None:
            raise ValueError("`weekdays` needs `at`")


@model
class WaitUntilStep(_Step):
    """Wait for an event, a reaction to an earlier send, or a condition; `timeout` bounds it."""

    kind: Literal["wait_until"]
    event: str | None = None
    reply: MessageMatch | None = None  # shorthand: a chat message matching keywords / a regex
    button: OneOrManyNames | None = None  # shorthand: a button
    where: Where = field(default_factory=dict)
    reaction: OneOrManyReactions | None = None
    message: StepId | None = None  # the send step whose reaction we wait for
    condition: Condition | None = None
    timeout: Duration | None = None
    anchor: Literal["step", "enrollment"] = "step"  # count `timeout` from now or from entry
    on_met: StepId | None = None  # default: the next step in order
    on_timeout: StepId | None = None  # default: the next step in order

    def __post_init__(self) -> None:
        _exactly_one(self, "event", "reply", "button", "reaction", "condition")
        if self.anchor == "enrollment" and self.timeout is None:
            raise ValueError("`anchor: enrollment` needs a `timeout`")
        if (self.reaction is None) != (self.message is None):
            raise ValueError("`reaction` and `message` go together")
        _chat_filters(self, self.reply)


@model
class WaitReplyStep(_Step):
    """Wait for the person's answer in a chat and store it as an attribute ("What is your
    email?" -> `email`), checked against `expect`; an answer that does not fit goes to
    `on_invalid` (e.g. a send that asks again) or is ignored while the wait goes on."""

    kind: Literal["wait_reply"]
    store: Annotated[str, Check(pattern=ATTRIBUTE_PATTERN)]  # the attribute receiving the answer
    expect: Literal["text", "email", "phone", "number"] = "text"
    channel: OneOrManyChannels | None = None  # default: any
    region: Annotated[str, Check(pattern=r"^[A-Z]{2}$")] | None = None  # phones without "+"
    timeout: Duration | None = None
    on_met: StepId | None = None  # default: the next step in order
    on_invalid: StepId | None = None  # default: keep waiting
    on_timeout: StepId | None = None  # default: the next step in order


@model
class Case:
    """One branch case: when the condition holds, go to `next`."""

    when: Condition
    next: StepId


@model
class BranchStep(_Step):
    """First case whose `when` holds wins; otherwise `default` (or the next step)."""

    kind: Literal["branch"]
    cases: Annotated[list[Case], Check(min_length=1)]
    default: StepId | None = None  # default: the next step in order


@model
class Variant:
    name: StepId
    percent: Annotated[float, Check(gt=0, le=100)]
    next: StepId | None = None  # default: the next step in order


@model
class SplitStep(_Step):
    """Sticky random A/B/n split by percent; `holdout` percent receive nothing."""

    kind: Literal["split"]
    variants: Annotated[list[Variant], Check(min_length=1)]
    holdout: Annotated[float, Check(ge=0, lt=100)] = 0.0  # percent receiving nothing (lift)

    def __post_init__(self) -> None:
        total = sum(v.percent for v in self.variants) + self.holdout
        if abs(total - 100) > 1e-6:
            raise ValueError(f"variant percents plus holdout must add up to 100, not {total:g}")
        if len({v.name for v in self.variants}) != len(self.variants):
            raise ValueError("variant names must be unique")


@model
class UpdateStep(_Step):
    """Change the contact: set/unset attributes, add/remove tags."""

    kind: Literal["update"]
    set_: dict[str, Any] = field(default_factory=dict)  # `set`; strings may be Liquid
    unset: list[str] = field(default_factory=list)
    add_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    next: StepId | None = None


@model
class GotoStep(_Step):
    """Jump to another step, or hand the contact to another funnel (ends this one)."""

    kind: Literal["goto"]
    step: StepId | None = None  # jump inside this funnel
    funnel: str | None = None  # or hand the contact to another funnel (ends this enrollment)

    def __post_init__(self) -> None:
        _exactly_one(self, "step", "funnel")


@model
class WebhookStep(_Step):
    """POST a rendered JSON body to a URL."""

    kind: Literal["webhook"]
    url: str  # may be Liquid
    body: dict[str, Any] = field(default_factory=dict)  # string leaves are Liquid
    next: StepId | None = None


@model
class ExitStep(_Step):
    """End the enrollment here."""

    kind: Literal["exit"]
    status: Literal["completed", "exited"] = "completed"
    reason: str | None = None


Step = Annotated[
    SendStep
    | WaitStep
    | WaitUntilStep
    | WaitReplyStep
    | BranchStep
    | SplitStep
    | UpdateStep
    | GotoStep
    | WebhookStep
    | ExitStep,
    OneOf("kind"),
]
STEP_KINDS = (
    "send",
    "wait",
    "wait_until",
    "wait_reply",
    "branch",
    "split",
    "update",
    "goto",
    "webhook",
    "exit",
)
WAITING_KINDS = frozenset({"wait", "wait_until", "wait_reply"})


# --- the funnel ---------------------------------------------------------------------------


@model
class Funnel:
    """An Autofunnel funnel definition (see docs/funnels.md)."""

    name: StepId
    description: str = ""
    version: int = 0  # set on upload
    tags: list[str] = field(default_factory=list)  # e.g. stage: tripwire, core, winback
    topic: Name64 | None = None  # opt-out-able, e.g. news
    trigger: Trigger
    reentry: Reentry = field(default_factory=Reentry)
    goal: Goal | None = None
    exit: list[ExitRule] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)
    templates: dict[str, Content] = field(default_factory=dict)
    sample: Sample | None = None
    steps: Annotated[list[Step], Check(min_length=1)]

    def to_dict(self) -> dict[str, Any]:
        return plain.dump(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Funnel:
        """A stored (validated) definition; no pydantic: the worker's cold start."""
        return plain.load(cls, data)

    # Lookups the engine needs on every call; computed once per (cached) Funnel object.
    @cached_property
    def step_map(self) -> dict[str, Any]:
        return {s.id: s for s in self.steps}

    @cached_property
    def following(self) -> dict[str, str | None]:
        """Step id -> id of the step written after it (the implicit `next`)."""
        ids = [s.id for s in self.steps]
        return dict(zip(ids, [*ids[1:], None], strict=True))

    @cached_property
    def reads_history(self) -> bool:
        """Whether any of its conditions counts past events (`event:`): only then does the
        runtime read the contact's event history for it."""
        return _mentions_event_condition(self)

    @property
    def first_step(self) -> str:
        return self.steps[0].id

    @property
    def timezone(self) -> str:
        return self.policy.timezone or "UTC"

    def content_for(self, step: SendStep) -> Content:
        return step.content if step.content is not None else self.templates[step.template or ""]


def _mentions_event_condition(node: Any) -> bool:
    if isinstance(node, EventCond):
        return True
    if dataclasses.is_dataclass(node):
        fields = dataclasses.fields(node)
        return any(_mentions_event_condition(getattr(node, f.name)) for f in fields)
    if isinstance(node, list | tuple):
        return any(_mentions_event_condition(item) for item in node)
    if isinstance(node, dict):
        return any(_mentions_event_condition(item) for item in node.values())
    return False


def funnel_json_schema() -> dict[str, Any]:
    schema = plain.adapter(Funnel).json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Autofunnel funnel"
    return schema
