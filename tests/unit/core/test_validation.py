"""Every class of validation error names file, line and field."""

from __future__ import annotations

import textwrap

import pytest

from chalicelib.core.problems import FunnelValidationError, Problem
from chalicelib.core.validate import cross_check, parse_funnel

GOOD = """\
name: ok
trigger: {event: go}
templates:
  t:
    email: {subject: "Hi {{ contact.first_name }}", text: "Bye {{ unsubscribe_url }}"}
steps:
  - {id: a, kind: send, channel: email, template: t}
"""


def problems(text: str, filename: str = "f.yaml") -> list[Problem]:
    with pytest.raises(FunnelValidationError) as info:
        parse_funnel(textwrap.dedent(text), filename)
    err = info.value
    assert str(err) == "\n".join(str(p) for p in err.problems)
    return err.problems


def one(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_a_good_funnel_passes() -> None:
    assert parse_funnel(GOOD, "ok.yaml").name == "ok"


def test_yaml_syntax_error() -> None:
    p = one("name: x\nsteps:\n  - {id: a, kind: send\n")
    assert (p.file, p.line) == ("f.yaml", 4)
    assert p.message.startswith("YAML syntax")


def test_not_a_mapping_and_several_documents() -> None:
    assert "one YAML mapping" in one("- a\n- b\n").message
    assert one("name: a\n---\nname: b\n").line == 3


def test_unknown_step_kind() -> None:
    p = one(GOOD + "  - {id: b, kind: sned}\n")
    assert (p.line, p.field) == (8, "steps[1]")
    assert "unknown step kind 'sned'" in p.message and "wait_until" in p.message


def test_missing_kind_and_unknown_field() -> None:
    found = problems(GOOD + "  - {id: b}\n  - {id: c, kind: wait, duration: 1d, colour: red}\n")
    assert [(p.line, p.message) for p in found] == [
        (
            8,
            "a step needs `kind`: one of send, wait, wait_until, wait_reply, branch, split, "
            "update, goto, webhook, exit",
        ),
        (9, "unknown field 'colour'"),
    ]
    assert found[1].field == "steps[2].colour"


def test_bad_values_point_at_their_line() -> None:
    p = one("""\
        name: x
        trigger: {event: go}
        steps:
          - id: w
            kind: wait
            duration: 3 days
        """)
    assert (p.line, p.field) == (6, "steps[0].duration")
    assert "bad duration" in p.message


def test_missing_required_field_is_named() -> None:
    p = one("name: x\nsteps:\n  - {id: w, kind: wait, duration: 1d}\n")
    assert (p.line, p.field, p.message) == (1, "trigger", "Field required")


def test_shape_rules_of_steps() -> None:
    p = one(GOOD + "  - {id: w, kind: wait_until, event: x, reaction: opened, message: a}\n")
    assert p.line == 8 and "exactly one of: event, reply, button, reaction, condition" in p.message
    p = one(GOOD + "  - {id: s, kind: split, variants: [{name: a, percent: 50}], holdout: 10}\n")
    assert "add up to 100, not 60" in p.message


def test_dangling_next_and_goto() -> None:
    found = problems(
        GOOD
        + """\
  - {id: b, kind: wait, duration: 1d, next: nowhere}
  - {id: c, kind: goto, step: gone}
"""
    )
    assert [(p.line, p.field, p.message) for p in found] == [
        (8, "steps[1].next", "unknown step 'nowhere'"),
        (9, "steps[2].id", "step 'c' is unreachable from the first step"),
        (9, "steps[2].step", "unknown step 'gone'"),
    ]


def test_dangling_branch_targets() -> None:
    found = problems(
        GOOD
        + """\
  - id: b
    kind: branch
    cases:
      - when: {tag: vip}
        next: vip_path
    default: end
"""
    )
    assert [(p.line, p.field) for p in found] == [(12, "steps[1].cases[0].next")]


def test_unreachable_step() -> None:
    p = one(
        GOOD.replace("template: t}", "template: t, next: end}")
        + """\
  - {id: orphan, kind: wait, duration: 1d}
"""
    )
    assert (p.line, p.field) == (8, "steps[1].id")
    assert "unreachable" in p.message


def test_cycle_without_wait() -> None:
    found = problems(
        GOOD
        + """\
  - {id: b, kind: update, add_tags: [x]}
  - {id: c, kind: goto, step: a}
"""
    )
    assert [(p.line, p.message) for p in found] == [
        (7, "loop with no wait would run forever: a -> b -> c -> a")
    ]


def test_cycle_through_a_wait_is_fine() -> None:
    parse_funnel(
        GOOD + "  - {id: w, kind: wait, duration: 1d}\n  - {id: c, kind: goto, step: a}\n", "f.yaml"
    )


def test_unknown_template_variable_points_into_the_block() -> None:
    found = problems("""\
        name: x
        trigger: {event: go}
        templates:
          t:
            email:
              subject: Hi
              html: |
                <p>Hello</p>
                <p>{{ customer.name }}</p>
                <a href="{{ links.tracking }}">x</a>
        steps:
          - {id: a, kind: send, channel: email, template: t}
        """)
    assert [(p.line, p.field) for p in found] == [
        (9, "templates.t.email.html"),
        (10, "templates.t.email.html"),
    ]
    assert "unknown template variable 'customer'" in found[0].message
    assert "unknown link 'links.tracking'" in found[1].message


def test_sample_data_makes_attribute_typos_errors() -> None:
    p = one(
        GOOD.replace("{{ contact.first_name }}", "{{ contact.frist_name }}")
        + "sample: {contact: {plan: pro}}\n"
    )
    assert (p.line, p.message) == (5, "'contact.frist_name' is not in sample.contact")


def test_liquid_syntax_error() -> None:
    p = one(GOOD.replace("Hi {{ contact.first_name }}", "{% if contact.first_name %}Hi"))
    assert p.line == 5 and p.field == "templates.t.email.subject"


def test_template_that_fails_to_render_with_sample_data() -> None:
    p = one(GOOD.replace("Hi {{ contact.first_name }}", "{{ event.total | divided_by: 0 }}"))
    assert p.line == 5
    assert p.message.startswith("does not render with sample data")


def test_webhook_and_update_templates_are_checked_too() -> None:
    found = problems(
        GOOD
        + """\
  - {id: u, kind: update, set: {x: "{{ nope }}"}}
  - id: h
    kind: webhook
    url: "https://x/{{ contact.id }}"
    body: {a: {b: "{{ also_nope }}"}}
"""
    )
    assert [(p.line, p.field) for p in found] == [(8, "steps[1].set.x"), (12, "steps[2].body.a.b")]


def test_channel_without_template_part() -> None:
    found = problems(
        GOOD
        + "  - {id: b, kind: send, channels: [email, telegram], template: t}\n"
        + "  - {id: c, kind: send, channel: sms, content: {email: {subject: s, text: t}}}\n"
    )
    assert [(p.line, p.field, p.message) for p in found] == [
        (8, "steps[1].channels[1]", "channel 'telegram' has no part in template 't'"),
        (9, "steps[2]", "channel 'sms' has no part in `content`"),
    ]


def test_unknown_template_and_email_without_body() -> None:
    assert "unknown template 'nope'" in one(GOOD.replace("template: t}", "template: nope}")).message
    p = one(GOOD.replace('text: "Bye {{ unsubscribe_url }}"', "preheader: x"))
    assert p.line == 5 and "html or a text part" in p.message


def test_reactions_must_name_send_steps() -> None:
    found = problems(
        GOOD
        + """\
  - {id: w, kind: wait_until, reaction: opened, message: w, timeout: 1d}
  - id: b
    kind: branch
    cases:
      - when: {reaction: clicked, messages: [a, w], at_least: 3}
        next: end
"""
    )
    assert [(p.line, p.message) for p in found] == [
        (8, "'w' is not a send step"),
        (12, "at_least is more than the messages listed"),
        (12, "'w' is not a send step"),
    ]


def test_duplicate_ids_and_reserved_end() -> None:
    found = problems(GOOD + "  - {id: a, kind: wait, duration: 1d}\n  - {id: end, kind: exit}\n")
    assert [(p.line, p.message) for p in found][:2] == [
        (8, "duplicate step id 'a'"),
        (9, "'end' is reserved (`next: end` finishes)"),
    ]


def test_holdout_needs_a_goal_window() -> None:
    p = one(GOOD + "  - {id: s, kind: split, variants: [{name: x, percent: 90}], holdout: 10}\n")
    assert (p.line, p.field) == (8, "steps[1].holdout")


def test_bad_timezone_and_condition_key() -> None:
    found = problems(
        GOOD + "policy: {timezone: Mars/Olympus}\n" + "exit: [{condition: {colour: red}}]\n"
    )
    assert [p.line for p in found] == [8, 9]
    assert "unknown time zone" in found[0].message
    assert "a condition needs exactly one of" in found[1].message


def test_cross_file_checks() -> None:
    a = GOOD.replace("name: ok", "name: a") + "  - {id: g, kind: goto, funnel: missing}\n"
    b = GOOD.replace("name: ok", "name: a")
    loaded = [(f, t, parse_funnel(t, f)) for f, t in (("a.yaml", a), ("b.yaml", b))]
    assert [str(p) for p in cross_check(loaded)] == [
        "b.yaml:1: name: funnel name 'a' is also used by a.yaml",
        "a.yaml:8: steps[1].funnel: unknown funnel 'missing'",
    ]
