"""The funnel language for bots: keyword/regex and button triggers, waiting for a reply and
storing it as a validated attribute, and reply buttons in chat messages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.core.engine import (
    CancelWakeup,
    EventInput,
    ScheduleWakeup,
    SendMessage,
    TimerInput,
    UpdateProfile,
    decide,
    start,
)
from chalicelib.core.funnel import Funnel
from chalicelib.core.index import TriggerIndex, matches_trigger
from chalicelib.core.matching import Match, matches
from chalicelib.core.problems import FunnelValidationError
from chalicelib.core.replies import parse_reply

from .conftest import T0, contact, funnel

OLGA = contact(reachable_channels={"telegram"}, timezone="Europe/Berlin")
LINKS = {"site": "https://shop.example", "unsubscribe": "https://af.example/u/t"}


def said(text: str, channel: str = "telegram", minutes: int = 1) -> EventInput:
    return EventInput(
        "message_received", {"channel": channel, "text": text}, T0 + timedelta(minutes=minutes)
    )


def of(decisions: list, kind: type) -> list:
    return [d for d in decisions if isinstance(d, kind)]


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("GUIDE", True),
        ("guide please!", True),
        ("Can I get the guide?", True),
        ("send me a PDF", True),
        ("guidelines", False),  # a whole word, not a substring
        ("хочу гайд", True),  # any script
        ("", False),
    ],
)
def test_keywords_match_whole_words_in_any_case(text: str, hit: bool) -> None:
    assert matches({"text": text}, {"text": Match(keyword=["guide", "pdf", "гайд"])}) is hit


def test_phrases_regexes_and_non_text_values() -> None:
    phrase = {"text": Match(keyword=["price list"])}
    assert matches({"text": "the PRICE-list, please"}, phrase)
    assert not matches({"text": "price? list!"}.copy() | {"text": "list price"}, phrase)
    regex = {"text": Match(regex=r"^\s*(yes|да)\b")}
    assert matches({"text": "Yes, send it"}, regex) and matches({"text": "да"}, regex)
    assert not matches({"text": "oh yes"}, regex)
    assert not matches({"text": 42}, regex) and not matches({}, regex)


BOT = """
    name: guide_bot
    trigger:
      message: {keyword: [guide, pdf], channel: [telegram, whatsapp]}
    templates:
      guide:
        telegram:
          text: Here is the guide
          buttons:
            - {text: Open, url: "{{ links.site }}/guide.pdf"}
            - {text: Email me the checklist, id: email_me}
      ask: {telegram: {text: "Which email?"}}
      again: {telegram: {text: "That does not look like an email. Try again?"}}
      thanks: {email: {subject: Your checklist, text: "Here it is, {{ contact.email }}"}}
    steps:
      - {id: guide, kind: send, channel: telegram, template: guide}
      - id: wants
        kind: wait_until
        button: email_me
        timeout: 1d
        on_timeout: end
      - {id: ask, kind: send, channel: telegram, template: ask}
      - id: email
        kind: wait_reply
        store: email
        expect: email
        channel: telegram
        timeout: 1h
        on_invalid: again
        on_timeout: end
      - {id: thanks, kind: send, channel: email, template: thanks, next: end}
      - {id: again, kind: send, channel: telegram, template: again, next: email}
"""


def test_a_keyword_trigger_starts_on_matching_messages_only() -> None:
    bot = funnel(BOT)
    assert bot.trigger.event == "message_received"
    assert matches_trigger(bot, said("GUIDE please"), OLGA)
    assert matches_trigger(bot, said("pdf", channel="whatsapp"), OLGA)
    assert not matches_trigger(bot, said("guide", channel="messenger"), OLGA)
    assert not matches_trigger(bot, said("hello"), OLGA)
    index = TriggerIndex.build([bot])
    assert [f.name for f in index.entry_candidates("message_received")] == ["guide_bot"]


def test_the_shorthand_is_stored_as_plain_event_filters() -> None:
    bot = funnel(BOT)
    stored = bot.to_dict()
    assert stored["trigger"]["event"] == "message_received"
    assert "message" not in stored["trigger"]
    assert stored["steps"][1]["event"] == "button_clicked"
    assert Funnel.from_dict(stored) == bot


def test_a_reply_is_validated_stored_and_the_address_used_right_away() -> None:
    bot = funnel(BOT)
    out = start(bot, OLGA, said("guide", minutes=0), T0, "e1", links=LINKS)
    [guide] = of(out.decisions, SendMessage)
    assert guide.content["telegram"]["buttons"] == [
        {"text": "Open", "url": "https://shop.example/guide.pdf"},
        {"text": "Email me the checklist", "id": "email_me"},
    ]
    pressed = EventInput("button_clicked", {"channel": "telegram", "button": "email_me"}, T0)
    out = decide(bot, out.state, OLGA, pressed, T0, links=LINKS)
    assert [s.step_id for s in of(out.decisions, SendMessage)] == ["ask"]
    assert out.state.step == "email"

    # Not an email: asked again, still waiting (a fresh timeout), nothing stored.
    out = decide(bot, out.state, OLGA, said("my email is olga at example"), T0, links=LINKS)
    assert [s.step_id for s in of(out.decisions, SendMessage)] == ["again"]
    assert of(out.decisions, UpdateProfile) == [] and out.state.step == "email"
    # A reply on another channel is not the answer.
    out = decide(bot, out.state, OLGA, said("olga@example.com", "messenger"), T0, links=LINKS)
    assert out.decisions == []
    out = decide(bot, out.state, OLGA, said(" Olga@Example.com "), T0, links=LINKS)
    assert of(out.decisions, UpdateProfile) == [UpdateProfile({"email": "olga@example.com"})]
    assert of(out.decisions, CancelWakeup)
    [thanks] = of(out.decisions, SendMessage)
    assert thanks.channels == ("email",)  # the address just given is usable at once
    assert thanks.content["email"]["text"] == "Here it is, olga@example.com"
    assert out.state.status == "completed"


def test_no_reply_before_the_timeout_takes_on_timeout() -> None:
    bot = funnel(BOT)
    out = start(bot, OLGA, said("guide", minutes=0), T0, "e1", links=LINKS)
    pressed = EventInput("button_clicked", {"channel": "telegram", "button": "email_me"}, T0)
    out = decide(bot, out.state, OLGA, pressed, T0, links=LINKS)
    [wake] = of(out.decisions, ScheduleWakeup)
    assert wake.at == T0 + timedelta(hours=1)
    out = decide(bot, out.state, OLGA, TimerInput(out.state.token), wake.at, links=LINKS)
    assert out.state.status == "completed" and of(out.decisions, SendMessage) == []


@pytest.mark.parametrize(
    ("expect", "answer", "region", "value"),
    [
        ("email", "Anna@Example.COM", None, "anna@example.com"),
        ("email", "anna at example", None, None),
        ("phone", "+49 151 12345678", None, "+4915112345678"),
        ("phone", "030 1234567", "DE", "+49301234567"),
        ("phone", "030 1234567", None, None),  # no country: cannot tell
        ("number", "2,5", None, 2.5),
        ("number", "two", None, None),
        ("text", "  Berlin  ", None, "Berlin"),
        ("text", "   ", None, None),
    ],
)
def test_answers_are_checked_against_what_the_step_expects(
    expect: str, answer: str, region: str | None, value: object
) -> None:
    assert parse_reply(expect, answer, region) == value


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("{id: r, kind: wait_reply, store: email, on_invalid: nowhere}", "unknown step 'nowhere'"),
        ("{id: r, kind: wait_reply, store: 2fa}", "String should match pattern"),
        ("{id: r, kind: wait_reply, store: x, expect: date}", "Input should be"),
    ],
)
def test_wait_reply_mistakes_are_reported_with_their_line(step: str, message: str) -> None:
    text = f"""
        name: f
        trigger: {{event: go}}
        steps:
          - {{id: a, kind: wait, duration: 1h}}
          - {step}
    """
    with pytest.raises(FunnelValidationError) as caught:
        funnel(text)
    [problem] = caught.value.problems
    assert problem.line == 6 and message in problem.message


def test_a_bad_regex_or_keyword_names_its_line() -> None:
    with pytest.raises(FunnelValidationError) as caught:
        funnel("""
            name: f
            trigger:
              message: {regex: "(unclosed"}
            steps:
              - {id: a, kind: wait, duration: 1h}
        """)
    [problem] = caught.value.problems
    assert problem.line == 4 and "invalid regex" in problem.message
    with pytest.raises(FunnelValidationError) as caught:
        funnel("""
            name: f
            trigger: {event: go, where: {text: {keyword: ["!!"]}}}
            steps:
              - {id: a, kind: wait, duration: 1h}
        """)
    assert "keywords must be words" in caught.value.problems[0].message


def test_a_reply_loop_through_wait_reply_is_not_a_loop_without_waiting() -> None:
    funnel(BOT)  # again -> email -> (invalid) again: wait_reply lets time pass
    with pytest.raises(FunnelValidationError):
        funnel("""
            name: f
            trigger: {event: go}
            steps:
              - {id: a, kind: update, set: {x: 1}, next: b}
              - {id: b, kind: update, set: {x: 2}, next: a}
        """)
