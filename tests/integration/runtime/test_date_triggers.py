"""Date-triggered funnels: the hourly job enrolls contacts on their day, in their time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autofunnel.timetravel import Stack
from chalicelib.channels.base import OutgoingMessage, SendResult
from chalicelib.config import Settings
from chalicelib.eventlog.entry import VERIFIED, Entry, contact_subject
from chalicelib.identity.erase import erase
from chalicelib.runtime.date_triggers import mark_key
from chalicelib.runtime.dispatch import STUCK_AFTER
from chalicelib.storage.models import Contact, DateMark
from tests.integration.paging.faults import CountingProvider

BIRTHDAY = """
name: birthday
trigger: {date: {attribute: birthday, annual: true}}
reentry: {policy: once_per_period, period: 300d}
policy: {timezone: Europe/Berlin}
templates:
  gift: {email: {subject: "Happy birthday, {{ contact.first_name }}!", text: "A gift inside"}}
steps:
  - {id: gift, kind: send, channel: email, template: gift}
"""


@pytest.fixture
def stack(settings: Settings) -> Stack:
    stack = Stack.build(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))
    stack.publish("birthday.yaml", BIRTHDAY)
    return stack


def identify(stack: Stack, contact_id: str, email: str, **traits: str) -> None:
    """A contact whose traits arrived through identify, as the worker hands them over."""
    stack.contact(contact_id, email=email, **traits)
    stack.append(
        Entry(
            contact_subject(contact_id),
            f"id-{contact_id}",
            "identify",
            "identify",
            stack.clock(),
            dict(traits),
            trust=VERIFIED,
        )
    )


def entered(stack: Stack) -> int:
    """Run the date-trigger job now; how many contacts it enrolled."""
    return int(stack.run_job("date_triggers")["counts"]["entered"])


def test_a_birthday_enrolls_once_on_the_local_day(stack: Stack) -> None:
    identify(stack, "ann", "ann@example.com", first_name="Ann", birthday="1990-11-24")
    identify(stack, "ben", "ben@example.com", first_name="Ben", birthday="1988-03-02")
    stack.clock.now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the 23rd in Berlin
    assert entered(stack) == 0
    stack.clock.now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # 00:30 on the 24th in Berlin
    assert entered(stack) == 1
    stack.clock.now += timedelta(hours=1)
    assert entered(stack) == 0  # the job runs hourly: still one entry
    assert [(step, channel) for _, step, channel in stack.outbox("ann")] == [("gift", "email")]
    assert stack.outbox("ben") == []


def test_leap_day_birthdays_are_celebrated_on_the_28th(stack: Stack) -> None:
    identify(stack, "leo", "leo@example.com", first_name="Leo", birthday="1996-02-29")
    stack.clock.now = datetime(2027, 2, 28, 9, 0, tzinfo=UTC)
    assert entered(stack) == 1


def test_a_changed_birthday_does_not_trigger_on_the_old_day(stack: Stack) -> None:
    identify(stack, "ann", "ann@example.com", first_name="Ann", birthday="1990-11-24")
    contact = Contact.get("ann")
    contact.attributes["birthday"] = "1990-12-24"
    contact.save()
    stack.clock.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert entered(stack) == 0


def test_erasing_a_contact_removes_its_date_marks(stack: Stack) -> None:
    identify(stack, "ann", "ann@example.com", first_name="Ann", birthday="1990-11-24")
    assert [m.contact_id for m in DateMark.query("birthday#11-24")] == ["ann"]
    erase("ann")
    assert list(DateMark.query("birthday#11-24")) == []


class SweepingProvider(CountingProvider):
    """A provider whose first call is slow enough for the sweeper to run meanwhile."""

    def __init__(self, stack: Stack) -> None:
        super().__init__()
        self.stack = stack

    def send(self, message: OutgoingMessage) -> SendResult:
        if not self.sent:
            self.stack.run_job("sweeper")
        return super().send(message)


def test_a_long_date_trigger_run_is_not_swept_while_it_sends(stack: Stack) -> None:
    """A job of many contacts decides at its as-of time and reaches the last ones minutes later:
    their sends must not look stuck to the sweeper running meanwhile (a second send)."""
    identify(stack, "ann", "ann@example.com", first_name="Ann", birthday="1990-11-24")
    as_of = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    stack.clock.now = as_of + STUCK_AFTER * 5  # the job reaches Ann ten minutes into its run
    provider = SweepingProvider(stack)
    stack.dispatcher._channels = {**stack.dispatcher._channels, "email": provider}
    mark = str(mark_key("birthday", "1990-11-24"))
    assert stack.runtime.enter_on_date("birthday", "ann", mark, as_of)
    assert list(provider.sent.values()) == [1]
    assert [(step, channel) for _, step, channel in stack.outbox("ann")] == [("gift", "email")]
