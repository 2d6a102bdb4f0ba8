"""Carrying out sends: claim the message record, deliver it, record the result.

The message record was written just before the commit of the enrollment step that decided it,
which names it (with the step's channel fallback list and the content rendered per channel), so
a decided send is never lost. A funnel step creates it claimed ("sending", attempt 1): the
commit that names it is the claim, and `recover` sends a stuck one only when its enrollment
names it (chalicelib.runtime.sends), deleting one that no commit will ever name. Any other
pending message (a deferred send, a released one, a confirmation text) is claimed (pending →
sending) by a conditional write, so two dispatchers never send it twice. A dispatcher that dies
after the claim leaves it "sending": `recover` retries it once, then marks it failed — visibly,
never silently. A send that fails for good is recorded with its figures in one transaction (the
observer's), so it counts in the step's and the template's figures exactly once, as a provider's
`failed` does.

Delivery itself (routing, send-time quiet hours, tracked links, unsubscribe headers, rate limits,
provider retries, dead addresses) is the channel layer's `deliver`. A send over its channel's
daily limit is recorded "held" in the `held` dispatch shard, where `runtime.held` lists,
releases and discards it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib import observability
from chalicelib.channels import reachability
from chalicelib.channels.base import Channel
from chalicelib.channels.daily_limits import DailyBudget
from chalicelib.channels.onsite import ONSITE
from chalicelib.channels.outbox import OUTBOX
from chalicelib.channels.reachability import Reachability
from chalicelib.config import Settings
from chalicelib.onsite import inbox as onsite_inbox
from chalicelib.runtime import sends
from chalicelib.runtime.clock import Clock
from chalicelib.runtime.observer import NoObserver, RuntimeObserver
from chalicelib.statuses import FAILED, HELD, PENDING, SENDING, SENT, SKIPPED
from chalicelib.storage.messages import split_content
from chalicelib.storage.models import Message, MessageBody

if TYPE_CHECKING:  # the senders' machinery loads at the first send, not with the worker's graph
    from chalicelib.channels.delivery import DeliveryOutcome

log = logging.getLogger(__name__)

SHARDS = 4
# A double opt-in's confirmation (chalicelib.tracking.opt_in) carries in its content the number
# it goes to (not yet a send address) and the channels a YES to it grants; both are kept.
TO, OPT_IN = "to", "opt_in"
HELD_SHARD = "held"  # the by_dispatch partition of held messages (recovery reads only d0-d3)
RELEASED = "released"  # content flag: an operator let a held message past today's limit
MAX_ATTEMPTS = 2  # the first try and one retry after an interruption
STUCK_AFTER = timedelta(minutes=2)
# Templates render `{{ unsubscribe_url }}` (and the preferences and view-online links) before
# the message has its id; the real, signed URLs replace these marks when the message goes out.
UNSUBSCRIBE_MARK = "https://unsubscribe.autofunnel.invalid/"
PREFERENCES_MARK = "https://preferences.autofunnel.invalid/"
VIEW_ONLINE_MARK = "https://view-online.autofunnel.invalid/"


def engine_links(settings: Settings) -> dict[str, str]:
    """The `links.*` templates may use (the engine renders before a message has its id)."""
    return {
        "unsubscribe": UNSUBSCRIBE_MARK,
        "preferences": PREFERENCES_MARK,
        "site": settings.site_url,
        "view_online": VIEW_ONLINE_MARK,
    }


def fill_links(
    settings: Settings,
    message_id: str,
    contact_id: str,
    channel: str,
    parts: Mapping[str, Any],
) -> dict[str, Any]:
    """The rendered parts with the real, signed per-message links in place of the marks."""
    if not settings.signing_secret:
        return dict(parts)
    # the links' signing (tracking.tokens) loads at the first send, not with the worker's graph
    from chalicelib.tracking import page_links
    from chalicelib.tracking.urls import unsubscribe_url

    real = {
        UNSUBSCRIBE_MARK: unsubscribe_url(settings, message_id, contact_id, channel),
        PREFERENCES_MARK: page_links.preferences_url(settings, message_id, contact_id),
        VIEW_ONLINE_MARK: page_links.view_url(settings, message_id),
    }

    def filled(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for mark, url in real.items():
            value = value.replace(mark, url)
        return value

    return {key: filled(value) for key, value in parts.items()}


Deliver = Callable[..., "DeliveryOutcome"]


def dispatch_shard(message_id: str) -> str:
    return f"d{int(message_id[:8], 16) % SHARDS}"


def pending_content(channels: list[str], by_channel: Mapping[str, Any]) -> dict[str, Any]:
    """What a pending message record holds until it is sent: the fallback list and every
    candidate channel's rendered parts."""
    return {"channels": channels, "by_channel": dict(by_channel)}


class Dispatcher:
    def __init__(
        self,
        channels: Mapping[str, Channel],
        settings: Settings,
        clock: Clock,
        deliver: Deliver | None = None,  # default: chalicelib.channels.delivery.deliver
        budget: DailyBudget | None = None,
        observer: RuntimeObserver | None = None,
        connection: Connection | None = None,
    ) -> None:
        self._channels = channels
        self._settings = settings
        self._clock = clock
        self._deliver = deliver
        self.budget = budget or DailyBudget(settings.daily_limits)
        self.observer: RuntimeObserver = observer or NoObserver()
        self._connection = connection  # a failure's record and figures commit together

    def dispatch(
        self, message: Message, reach: Reachability | None = None, claimed: bool = False
    ) -> str:
        """Deliver one pending message; returns its status afterwards. `reach`: the contact's
        addresses and consents when the caller has just read them. `claimed`: the message was
        created `sending` (attempt 1) in the caller's transaction, which claimed it: a crash
        before the send leaves it to the sweeper, like any interrupted send."""
        now = self._clock()
        if message.not_before and message.not_before > now:
            return str(message.status)  # deferred (quiet hours, provider back-off)
        if not claimed and not self._claim(message):
            return str(message.status)
        content = message.content or {}
        by_channel: Mapping[str, Any] = content.get("by_channel", {})
        if content.get(TO):  # a double opt-in's confirmation: to the number it confirms
            reach = reach or reachability.load(message.contact_id)
            reach = replace(reach, addresses={**reach.addresses, "sms": str(content[TO])})
        if self._deliver is None:
            from chalicelib.channels.delivery import deliver

            self._deliver = deliver
        outcome = self._deliver(
            self._channels,
            settings=self._settings,
            message_id=message.message_id,
            contact_id=message.contact_id,
            channels_in_order=list(content.get("channels", [])),
            render=lambda channel: self._render(message, channel, by_channel.get(channel, {})),
            now=now,
            funnel=message.funnel,
            step_id=message.step_id,
            contact=reach,
            budget=self.budget,
            released=bool(content.get(RELEASED)),
        )
        self._record(message, outcome)
        return str(message.status)

    def recover(self, message_id: str) -> bool:
        """One message the sweeper found undispatched: send it if due, retry a send a crash
        interrupted once, then mark it failed. False when it is not due yet (or gone)."""
        now = self._clock()
        try:
            message = Message.get(message_id, consistent_read=True)
        except Message.DoesNotExist:
            return False
        if message.not_before and message.not_before > now:
            return False
        if message.status == SENDING:  # a send a crash (or a lost race) left behind
            if now - message.created_at < STUCK_AFTER:
                return False  # stamped anew by a redelivered input since the index was read
            committed = sends.verdict(message, now)
            if committed is False:
                sends.drop_orphan(message)  # no commit named it, and none ever will
            if not committed:
                return False
            if message.attempts >= MAX_ATTEMPTS:
                self._finish(message, FAILED, error="interrupted while sending, twice")
                log.error("message %s failed: interrupted while sending", message.message_id)
                return True
            try:  # not if an input stamped it anew meanwhile, to commit and send it itself
                message.update(
                    actions=[Message.status.set(PENDING)],
                    condition=Message.created_at == message.created_at,
                )
            except UpdateError:
                return False
        self.dispatch(message)
        return True

    def _render(self, message: Message, channel: str, parts: Mapping[str, Any]) -> dict[str, Any]:
        return fill_links(self._settings, message.message_id, message.contact_id, channel, parts)

    def _record(self, message: Message, outcome: DeliveryOutcome) -> None:
        observability.message_outcome(
            outcome.status,
            message_id=message.message_id,
            channel=outcome.channel,
            funnel=message.funnel,
            step=message.step_id,
            error=outcome.error,
        )
        if outcome.status in ("deferred", "retry"):
            # Not sent and not a failure: back to pending until `not_before`; the sweeper sends it.
            self._finish(
                message,
                PENDING,
                error=outcome.error,
                keep_shard=True,
                attempts_back=True,
                not_before=outcome.not_before,
            )
            return
        if outcome.status == "held":
            self._finish(
                message,
                HELD,
                error=outcome.error,
                shard=HELD_SHARD,
                held_on=(outcome.channel or "", outcome.address or ""),
            )
            return
        if outcome.status == "no_route":
            self._finish(message, SKIPPED, error="no channel of the step reaches this contact")
            return
        if outcome.status == "failed":
            self._finish(message, FAILED, error=outcome.error)
            return
        sender = self._channels.get(outcome.channel or "")
        kept = {
            name: value for name, value in (message.content or {}).items() if name in (TO, OPT_IN)
        }
        self._finish(
            message,
            SENT,
            provider_id=outcome.provider_id,
            sent={
                "channel": outcome.channel,
                "address": outcome.address,
                "via": getattr(sender, "name", None) if sender else None,
                "looked_up": bool(getattr(sender, "looked_up_by_provider_id", False)),
                "content": {**outcome.content, **kept},
            },
            inbox=outcome.channel == ONSITE,
        )

    def _claim(self, message: Message) -> bool:
        for _ in range(3):  # our copy may be stale (a status callback bumped its version)
            if message.status != PENDING:
                return False
            try:
                message.update(
                    actions=[Message.status.set(SENDING), Message.attempts.add(1)],
                    condition=Message.status == PENDING,
                )
                return True
            except UpdateError:
                message.refresh(consistent_read=True)
        return False

    def _finish(
        self,
        message: Message,
        status: str,
        *,
        provider_id: str | None = None,
        error: str | None = None,
        keep_shard: bool = False,
        attempts_back: bool = False,
        not_before: datetime | None = None,
        sent: Mapping[str, Any] | None = None,
        shard: str | None = None,
        held_on: tuple[str, str] | None = None,
        inbox: bool = False,
    ) -> None:
        now = self._clock()
        entry = {"status": status, "at": now.isoformat()}
        if error:
            entry["error"] = error
        kept: dict[str, Any] = {}
        if status == SENT and sent is not None:
            # An on-site message stays whole: the snippet's poll reads it from the message.
            kept, apart = (dict(sent["content"]), None) if inbox else split_content(sent["content"])
            if apart is not None:  # the long fields once, before the message names them
                MessageBody(message.message_id, content=apart).save()
        for _ in range(3):
            # A provider callback (delivered, opened) may land before we record "sent":
            # then keep its newer status and only add what we know.
            overtaken = message.status not in (PENDING, SENDING)
            actions: list[Any] = [] if overtaken else [Message.status.set(status)]
            actions.append(Message.status_history.set(Message.status_history.append([entry])))
            if status == SENT and sent is not None:
                actions += [
                    Message.sent_at.set(now),
                    Message.channel.set(sent["channel"]),
                    Message.address.set(sent["address"]),
                    Message.content.set(kept),
                ]
                # Each index entry costs a write unit: only what is looked up is indexed.
                if sent["via"] == OUTBOX:
                    actions.append(Message.via.set(OUTBOX))
                if sent["looked_up"]:
                    actions.append(Message.provider_id.set(provider_id))
                else:
                    actions.append(Message.provider_ref.set(provider_id))
            if inbox and sent is not None and not overtaken:
                actions += onsite_inbox.enter(message, sent["content"], now)
            if error:
                actions.append(Message.error.set(error))
            if held_on is not None:  # the channel it waits for, shown in the held list
                actions += [Message.channel.set(held_on[0]), Message.address.set(held_on[1])]
            if attempts_back:
                actions.append(Message.attempts.add(-1))
            actions.append(
                Message.not_before.set(not_before) if not_before else Message.not_before.remove()
            )
            if not message.recorded_for:  # listed on the contact (by_contact) from now on
                actions.append(Message.recorded_for.set(message.contact_id))
            if shard is not None:
                actions.append(Message.dispatch_shard.set(shard))
            elif not keep_shard:
                actions.append(Message.dispatch_shard.remove())
            try:
                if status == FAILED and not overtaken and self._connection is not None:
                    self._failed(message, actions, entry, now)
                else:
                    message.update(actions=actions)
                return
            except (UpdateError, TransactWriteError):
                message.refresh(consistent_read=True)
        log.error("could not record %s for message %s", status, message.message_id)

    def _failed(
        self, message: Message, actions: list[Any], entry: dict[str, str], now: datetime
    ) -> None:
        history = [*(message.status_history or ()), entry]
        with TransactWrite(connection=self._connection) as transaction:
            transaction.update(message, actions)
            try:
                self.observer.send_failed(transaction, message, history, now)
            except Exception:  # the failure is recorded even if its figures cannot be
                log.exception("figures of the failed message %s", message.message_id)
        message.refresh(consistent_read=True)
