"""The snippet's poll (POST /v1/onsite): what the visitor did with the messages it showed, then
the messages waiting for them.

    read(body) -> Poll                  validated, or ValueError naming the field
    answer(poll, now) -> Answer         {"messages": [...]}, and the reports' status entries

Reports become message statuses (`shown`, `clicked`, `dismissed`, `submitted`): entries of the
event log, which the worker records as it does email opens and clicks, so funnels branch on
them and figures count them. A report counts only for an on-site message of the visitor's own
contact.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.channels.onsite import ONSITE
from chalicelib.eventlog.entry import Entry
from chalicelib.onsite import inbox, visitors
from chalicelib.storage.models import Message

log = logging.getLogger(__name__)
ACTIONS = ("shown", "clicked", "dismissed", "submitted")
MAX_REPORTS = 20
MAX_ID = 128
SHOWN_FIELDS = ("style", "title", "body", "buttons", "capture")


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]  # what the snippet gets
    statuses: list[Entry]  # what the route appends to the event log


@dataclass(frozen=True)
class Report:
    message_id: str
    action: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Poll:
    anonymous_id: str
    device_key: str
    reports: tuple[Report, ...] = ()


class BadPoll(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def read(body: Mapping[str, Any]) -> Poll:
    anonymous_id = body.get("anonymousId")
    if not isinstance(anonymous_id, str) or not 0 < len(anonymous_id.strip()) <= MAX_ID:
        raise BadPoll("anonymousId is required (the snippet's visitor id)", "anonymousId")
    device_key = body.get("deviceKey")
    if not isinstance(device_key, str) or not visitors.DEVICE_KEY.match(device_key):
        raise BadPoll("deviceKey must be 16-128 letters, digits, '-' or '_'", "deviceKey")
    raw = body.get("reports") or []
    if not isinstance(raw, list) or len(raw) > MAX_REPORTS:
        raise BadPoll(f"reports must be a list of at most {MAX_REPORTS}", "reports")
    reports = []
    for index, item in enumerate(raw):
        where = f"reports[{index}]"
        if not isinstance(item, dict):
            raise BadPoll("a report is an object {id, action}", where)
        message_id, action = item.get("id"), item.get("action")
        if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_ID:
            raise BadPoll("id must name the message shown", f"{where}.id")
        if action not in ACTIONS:
            raise BadPoll(f"action must be one of {', '.join(ACTIONS)}", f"{where}.action")
        details = {
            name: str(item[name])[:500]
            for name in ("url", "button")
            if isinstance(item.get(name), str | int)
        }
        reports.append(Report(message_id, action, details))
    return Poll(anonymous_id.strip(), device_key, tuple(reports))


def answer(poll: Poll, now: datetime) -> Answer:
    """Nothing for a stranger: an unknown visitor and a wrong device key get the same empty
    answer as a visitor with no messages."""
    try:
        contact_id = visitors.contact_of(poll.anonymous_id, poll.device_key, now)
    except visitors.NotTheVisitor:
        log.warning("on-site poll with a device key not bound to its anonymous id")
        return Answer({"messages": []}, [])
    if contact_id is None:
        return Answer({"messages": []}, [])
    done = {report.message_id for report in poll.reports}
    statuses = [entry for report in poll.reports for entry in _apply(contact_id, report, now)]
    messages = [
        {"id": message.message_id, **_shown(message.content or {})}
        for message in inbox.waiting(contact_id, now)
        if message.message_id not in done
    ]
    return Answer({"messages": messages}, statuses)


def _shown(content: Mapping[str, Any]) -> dict[str, Any]:
    return {name: content[name] for name in SHOWN_FIELDS if content.get(name) is not None}


def _apply(contact_id: str, report: Report, now: datetime) -> list[Entry]:
    try:
        message = Message.get(report.message_id)
    except Message.DoesNotExist:
        return []
    if message.channel != ONSITE or message.contact_id != contact_id:
        return []  # not this visitor's: ignored, and no hint why
    inbox.leave(message)
    if report.action == "shown":
        return [inbox.status_entry(message.message_id, "shown", now)]
    # Whatever they did, they saw it first: a millisecond earlier, so that the worker (which
    # orders a message's entries by time) hears of it first.
    seen = inbox.status_entry(message.message_id, "shown", now - timedelta(milliseconds=1))
    return [seen, inbox.status_entry(message.message_id, report.action, now, report.details)]
