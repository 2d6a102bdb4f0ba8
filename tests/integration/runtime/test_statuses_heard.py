"""A provider status reaches the enrollment that sent the message only when it can change it:
an unsubscribe ends any enrollment; a delivery, an open or a click matters only to a funnel
version that looks at reactions (a `wait_until` a reaction, a reaction condition) or whose
conditions may change on any input. Other versions' enrollments are neither read nor written for
it (chalicelib.core.index.hears_statuses); the step's figures count the reaction either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autofunnel.timetravel import Stack
from chalicelib.analytics import counters, keys
from chalicelib.config import Settings
from chalicelib.eventlog.entry import STATUS, VERIFIED, Entry, message_subject
from chalicelib.storage.messages import message_id_of
from chalicelib.storage.models import Enrollment
from tests.integration.paging.faults import CountingProvider

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DRIP = """
name: drip
trigger: {event: signed_up}
templates:
  t: {email: {subject: "Hello", text: "Welcome"}}
steps:
  - {id: m1, kind: send, channel: email, template: t}
  - {id: w1, kind: wait, duration: 1d}
  - {id: m2, kind: send, channel: email, template: t}
"""
NUDGE = """
name: nudge
trigger: {event: signed_up}
templates:
  t: {email: {subject: "Hello", text: "Welcome"}}
steps:
  - {id: m1, kind: send, channel: email, template: t}
  - {id: seen, kind: wait_until, reaction: opened, message: m1, timeout: 3d, on_timeout: end}
  - {id: m2, kind: send, channel: email, template: t}
"""


def build(settings: Settings) -> tuple[Stack, CountingProvider]:
    provider = CountingProvider()
    stack = Stack.build(START, settings=settings, channels={"email": provider})
    stack.publish("drip.yaml", DRIP)
    stack.publish("nudge.yaml", NUDGE)
    stack.contact("ann", "ann@example.com")
    stack.event("ann", "signed_up")
    return stack, provider


def status(stack: Stack, funnel: str, name: str) -> None:
    message_id = message_id_of(f"ann:{funnel}:1:m1:1")
    stack.append(
        Entry(
            message_subject(message_id),
            f"sendgrid:{funnel}:{name}",
            STATUS,
            name,
            stack.clock(),
            {"provider_event": name},
            source="sendgrid",
            trust=VERIFIED,
        )
    )


def enrollment(funnel: str) -> Enrollment:
    return next(row for row in Enrollment.query("ann") if row.funnel == funnel)


def test_a_drip_enrollment_is_not_touched_by_its_messages_statuses(settings: Settings) -> None:
    stack, _ = build(settings)
    before = enrollment("drip")
    for name in ("delivered", "opened", "clicked"):
        status(stack, "drip", name)
    after = enrollment("drip")
    assert after.version == before.version  # neither written ...
    assert not after.state.get("reactions")  # ... nor keeping what nothing reads
    figures = counters.read(keys.funnel_scope("drip", 1))
    reactions = [figures.get(keys.step_metric("m1", name)) for name in ("opened", "clicked")]
    assert reactions == [1, 1]


def test_an_unsubscribe_still_ends_the_drip(settings: Settings) -> None:
    stack, provider = build(settings)
    status(stack, "drip", "unsubscribed")
    assert enrollment("drip").status == "exited"
    stack.advance(timedelta(days=2))
    assert len(provider.sent) == 2  # the first of each funnel: drip's second never goes out


def test_an_open_still_moves_a_wait_for_it_on(settings: Settings) -> None:
    stack, provider = build(settings)
    status(stack, "nudge", "opened")
    row = enrollment("nudge")
    assert row.state["reactions"]["m1"].keys() == {"delivered", "opened"}  # the open implies it
    assert row.status == "completed" and len(provider.sent) == 3  # drip m1, nudge m1 and m2


def test_a_reaction_that_keeps_the_wait_keeps_it_out_of_by_wake(settings: Settings) -> None:
    """The 3-day timeout was scheduled before its commit (no by_wake entry); a delivery is
    recorded on the enrollment without moving the wait, and its commit adds no entry either."""
    stack, _ = build(settings)
    before = enrollment("nudge")
    assert before.wake_at is not None and before.wake_shard is None
    status(stack, "nudge", "delivered")
    after = enrollment("nudge")
    assert after.version != before.version  # the reaction was recorded
    assert (after.wake_at, after.wake_token) == (before.wake_at, before.wake_token)
    assert after.wake_shard is None
