"""The step runner: feeds events, wake-ups and message statuses to the pure engine and carries out
its decisions, exactly once.

Every change to an enrollment is one conditional write of the enrollment (guarded by its version
attribute), which carries the step's figures (counted off the enrollments' stream: chalicelib.
analytics.step_tallies); a transaction only where more must commit with it (a message with
nothing to send, a broadcast's chunk of entries). The messages the step decided are written just
before it (their ids derived from the engine's idempotency keys, stamped with the version decided
on) and the commit names them on the enrollment (chalicelib.runtime.sends); a broadcast's batch
entry writes them in its transaction. A duplicate or late input either finds nothing to do (the
engine ignores stale wake-ups) or loses the race and retries on the fresh state, so a person
never gets the same message twice and never misses one: a message no commit named is never sent (nor
counted by a cap) and the sweeper deletes it. The messages are created claimed ("sending",
attempt 1): only the input whose commit names them sends them, so no claim write is needed.
Side effects that cannot join the commit (profile updates, sends, near wake-ups) come after it
and are idempotent; the sweeper repairs what a crash in between left undone (an interrupted
send is retried once; a near wake-up is found overdue in `by_wake`). A wake-up due later than
SCHEDULE_FIRST_AFTER goes to the scheduler before the commit that records it and needs no
`by_wake` entry: a schedule whose commit never landed (a crash, a lost race) fires at a token or
a due time the enrollment does not wait for and changes nothing (`handle_wakeup`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.core import engine, trust
from chalicelib.core.clock import cap_window
from chalicelib.core.decisions import (
    UNSUBSCRIBED,
    CallWebhook,
    CancelWakeup,
    EnrollInFunnel,
    EventInput,
    Input,
    MessageStatusInput,
    ScheduleWakeup,
    SendMessage,
    TimerInput,
    UpdateProfile,
)
from chalicelib.core.funnel import FUNNEL_ENTERED, Cap, Funnel
from chalicelib.core.index import (
    condition_driven,
    hears_statuses,
    matches_date_trigger,
    matches_trigger,
    may_enter,
    mentioned,
)
from chalicelib.core.state import ACTIVE, ContactView, EnrollmentState, to_ms
from chalicelib.events import StoredEvent
from chalicelib.runtime import date_triggers, listening, parallel, sends
from chalicelib.runtime.clock import Clock
from chalicelib.runtime.contacts import (
    ContactSnapshot,
    load_snapshot,
    with_history,
    with_window,
)
from chalicelib.runtime.dispatch import (
    PENDING,
    SENDING,
    SKIPPED,
    Dispatcher,
    dispatch_shard,
    pending_content,
)
from chalicelib.runtime.funnel_store import ARCHIVED, PAUSED, FunnelStore, UnknownFunnel
from chalicelib.runtime.listening import Listening
from chalicelib.runtime.observer import Committed, NoObserver, RuntimeObserver
from chalicelib.runtime.profile import apply_profile_update, claim_identities
from chalicelib.runtime.scheduler import Scheduler, Wakeup
from chalicelib.statuses import MessageStatusUpdate
from chalicelib.storage import enrollment_state
from chalicelib.storage.errors import ConflictError, conflicts_as_domain_errors
from chalicelib.storage.messages import message_id_of
from chalicelib.storage.models import Contact, Enrollment, Message

log = logging.getLogger(__name__)

WAKE_SHARDS = 4
MAX_ATTEMPTS = 8  # optimistic-locking retries when inputs race for one enrollment
MAX_INLINE_DEPTH = 20  # chained short waits run inline up to this depth, then get scheduled
TRANSACTION_ITEMS = 100  # DynamoDB's limit of items in one TransactWriteItems
PAUSE_RETRY = timedelta(minutes=5)  # a paused funnel's wake-ups come back this often
SWEEP_GRACE = timedelta(minutes=2)  # a wake-up this overdue was lost: the sweeper runs it
# A wake-up due later than this is scheduled before its commit (no `by_wake` entry): Lambda's
# longest run, so it cannot fire before the commit that records it has landed or never will.
SCHEDULE_FIRST_AFTER = timedelta(minutes=15)
DATE_TRIGGER_QUIET = timedelta(hours=20)  # one date-triggered entry per funnel and day
Figures = dict[str, Any]  # what a step adds to the counters, as its enrollment keeps it


@dataclass(frozen=True)
class Entered:
    """A contact of a batch entry: its enrollment, and the messages its first step created (and
    dispatched) when `new`; a contact found entered already has `new` False and no messages."""

    enrollment: Enrollment
    messages: list[Message]
    new: bool


@dataclass
class _Contact:
    """The contact an input concerns, its snapshot loaded at most once per input; its
    enrollments loaded once for all the inputs of a batch, and again after any commit."""

    contact_id: str
    now: datetime
    _snapshot: ContactSnapshot | None = None
    _enrollments: list[Enrollment] | None = None
    # What the contact item listed of its listening enrollments (chalicelib.runtime.listening)
    # as the worker found it; None once anything of the contact's enrollments changed.
    listening: Listening | None = None

    @property
    def enrollments(self) -> list[Enrollment]:
        if self._enrollments is None:
            self._enrollments = list(Enrollment.query(self.contact_id, consistent_read=True))
        return self._enrollments

    def changed(self) -> None:
        """An enrollment of the contact changed elsewhere: read them again when next needed."""
        self._enrollments = None
        self.listening = None

    def committed(self, row: Enrollment) -> None:
        """This input committed `row`: the enrollments read stay true with it in place."""
        self.listening = None
        if self._enrollments is None:
            return
        if row.contact_id != self.contact_id:
            self._enrollments = None  # followed a merge: read the survivor's
            return
        others = [r for r in self._enrollments if r.enrollment_key != row.enrollment_key]
        self._enrollments = [*others, row]

    @property
    def snapshot(self) -> ContactSnapshot:
        if self._snapshot is None:
            self._snapshot = load_snapshot(self.contact_id, self.now, history=False)
        return self._snapshot

    def trigger_view(self, funnel: Funnel) -> ContactView:
        """The view with the contact's past events if this funnel's conditions count any."""
        if funnel.reads_history:
            self._snapshot = with_history(self.snapshot, self.now)
        return self.snapshot.view

    def view_for(self, funnel: Funnel, workspace_cap: Cap | None) -> ContactView:
        """The view with what this funnel may look at: past events if its conditions count
        any, the contact's sends as far back as its caps look."""
        self.trigger_view(funnel)
        self._snapshot = with_window(self.snapshot, self.now, cap_window(funnel, workspace_cap))
        return self._snapshot.view

    def forget(self) -> None:
        self._snapshot = None


class Runtime:
    def __init__(
        self,
        funnels: FunnelStore,
        scheduler: Scheduler,
        dispatcher: Dispatcher,
        connection: Connection,
        clock: Clock,
        observer: RuntimeObserver | None = None,
        links: Mapping[str, str] | None = None,
        phone_region: str = "",
        workspace_cap: Cap | None = None,
    ) -> None:
        self.funnels = funnels
        self.scheduler = scheduler
        self.dispatcher = dispatcher
        self.connection = connection
        self.clock = clock
        self.observer: RuntimeObserver = observer or NoObserver()
        self.links = dict(links or {})  # `links.*` for templates: see dispatch.engine_links
        self.phone_region = phone_region  # reads phone numbers a funnel stores
        self.workspace_cap = workspace_cap  # AUTOFUNNEL_FREQUENCY_CAP, across all funnels
        self._older_names: tuple[object, frozenset[str]] = (None, frozenset())

    # --- inputs ---------------------------------------------------------------------------

    def handle(self, events: Sequence[StoredEvent], listens: Listening | None = None) -> None:
        """Match each stored event against funnels, advance and enroll (the worker's call: a
        failure goes back to the stream, which delivers the event again). A contact's
        enrollments are read once for its events, unless a step commits in between; not at
        all for events only condition-driven funnels hear when `listens` (what the contact
        item of the events' first contact lists, as the worker's profile update found it)
        names no enrollment of theirs."""
        contacts: dict[str, _Contact] = {}
        if events:
            first = events[0].contact_id
            contacts[first] = _Contact(first, self.clock(), listening=listens)
        for event in events:
            if event.type == "identify":
                self._mark_dates(event.contact_id, event.properties)
            contact = contacts.setdefault(
                event.contact_id, _Contact(event.contact_id, self.clock())
            )
            contact.now = self.clock()
            contact.forget()  # the snapshot may name the event just handled: read it again
            self._on_event(
                event.contact_id,
                EventInput(
                    event.name,
                    dict(event.properties),
                    event.timestamp,
                    event.event_id,
                    counts_value=trust.counts_orders(event.trust),
                ),
                contact=contact,
            )

    def handle_wakeup(self, payload: dict[str, object]) -> None:
        """The step-runner Lambda's entry point (EventBridge Scheduler or the local poller)."""
        wakeup = Wakeup.from_payload(dict(payload))
        now = max(self.clock(), wakeup.due_at)
        self._advance(
            _Contact(wakeup.contact_id, now),
            wakeup.enrollment_key,
            TimerInput(wakeup.token),
            due_at=wakeup.due_at,
        )

    def handle_statuses(
        self,
        updates: Sequence[MessageStatusUpdate],
        find: Callable[[str], Message | None],
    ) -> None:
        """A delivery, open, click or reply reaches the enrollment that sent the message.
        `find`: the message as the caller has it (the worker's copy, read once per batch)."""
        for update in updates:
            message = find(update.message_id)
            if message is None:
                continue
            if not (message.enrollment_key and message.step_id):
                continue
            if not self._hears(message, update.status):
                continue  # no read, no write: the enrollment would only note the reaction
            contact = _Contact(message.contact_id, self.clock())
            self._advance(
                contact,
                message.enrollment_key,
                MessageStatusInput(message.step_id, update.status, update.at),
            )

    def _hears(self, message: Message, status: str) -> bool:
        """Whether a status on `message` can change the enrollment that sent it: an unsubscribe
        ends any; other statuses only one of a version that hears them (core.index)."""
        if status == UNSUBSCRIBED or message.funnel is None or message.funnel_version is None:
            return True
        try:
            funnel = self.funnels.version(message.funnel, int(message.funnel_version))
        except UnknownFunnel:
            return True  # the enrollment's own read decides
        return hears_statuses(funnel)

    def enroll(self, funnel_name: str, contact_id: str) -> bool:
        """Enroll by API or from another funnel (`goto` a funnel); re-entry rules apply."""
        funnel = self.funnels.index().get(funnel_name)
        if funnel is None:
            raise UnknownFunnel(funnel_name)
        return self._enter(funnel, _Contact(contact_id, self.clock()), None, depth=0)

    def enter_on_date(self, funnel_name: str, contact_id: str, mark: str, now: datetime) -> bool:
        """One contact of the date-trigger job (`mark`: the day key it was found under): enroll
        it when the funnel's date falls due today in its time zone. True when this run entered
        it, also when an earlier, interrupted attempt of the same run did (started at `now`)."""
        funnel = next((f for f in self.funnels.index().date_funnels if f.name == funnel_name), None)
        trigger = funnel.trigger.date if funnel is not None else None
        if funnel is None or trigger is None:
            return False  # archived or changed since the job planned its pages
        contact = _Contact(contact_id, now)
        view = contact.trigger_view(funnel)
        day = view.attributes.get(trigger.attribute)
        if (
            contact.snapshot.merged_into
            or date_triggers.mark_key(trigger.attribute, day) != mark  # an outdated mark
            or not matches_date_trigger(funnel, view, now)
        ):
            return False
        for row in contact.enrollments:
            if row.funnel == funnel.name and row.started_at == now:
                return True
            if row.funnel == funnel.name and now - row.started_at < DATE_TRIGGER_QUIET:
                return False  # entered for this date already (the job runs every hour)
        event = EventInput(
            "date_reached",
            {"attribute": trigger.attribute, "date": str(day)},
            now,
            f"date:{funnel.name}:{contact_id}:{now.date()}",
        )
        return self._enter(funnel, contact, event, depth=0)

    def enter_each(
        self,
        funnel: Funnel,
        snapshots: Mapping[str, ContactSnapshot],
        now: datetime,
        before_send: Callable[[Message], None] | None = None,
        workers: int = 1,
    ) -> dict[str, Entered]:
        """Enroll a page of contacts in a funnel entered by API once per contact (a
        broadcast's): each contact's first enrollment either exists (returned as found, e.g. a
        page handled again after a crash) or starts now. New enrollments and the messages they
        decide are written in transactions of up to 100 items and counted in one write; one
        someone else started meanwhile makes its chunk fall back to one entry at a time.
        `before_send` is called before each message goes to its provider (pacing); the sends
        and wake-ups after each commit run on `workers` threads."""
        if funnel.reentry.policy != "once" or not funnel.trigger.api:
            raise ValueError(f"{funnel.name}: a batch entry needs an API trigger, entered once")
        key = f"{funnel.name}#{1:05d}"
        ids = [cid for cid, snapshot in snapshots.items() if not snapshot.merged_into]
        found = {
            row.contact_id: row
            for row in Enrollment.batch_get([(cid, key) for cid in ids], consistent_read=True)
        }
        entered = {cid: Entered(row, [], new=False) for cid, row in found.items()}

        def stage(contact_id: str) -> tuple[_Contact, Enrollment, engine.Outcome, list[Message]]:
            contact = _Contact(contact_id, now, snapshots[contact_id])
            enrollment_id = f"{contact_id}:{funnel.name}:1"
            outcome = engine.start(
                funnel,
                contact.view_for(funnel, self.workspace_cap),  # its recent sends, for caps
                None,
                now,
                enrollment_id,
                links=self.links,
                workspace_cap=self.workspace_cap,
            )
            row = Enrollment(
                contact_id,
                key,
                enrollment_id=enrollment_id,
                funnel=funnel.name,
                funnel_version=funnel.version,
                started_at=now,
            )
            messages = self._stage(row, outcome, contact)
            for message in messages:  # claimed by the transaction that creates them
                if message.status == PENDING:
                    message.status, message.attempts = SENDING, 1
            if listens:  # listed before it starts (chalicelib.runtime.listening)
                listening.mark(contact_id, key)
            return contact, row, outcome, messages

        listens = condition_driven(funnel)
        staged = parallel.each(stage, [cid for cid in ids if cid not in found], workers)
        index = self.funnels.index()  # does any funnel react to entering this one?
        announce = bool(index.candidates(FUNNEL_ENTERED) or index.entry_candidates(FUNNEL_ENTERED))
        for chunk in _chunks(staged, TRANSACTION_ITEMS):
            for _, row, outcome, messages in chunk:
                # Each enrollment carries its figures (a page handled again after a crash finds
                # its enrollments: nothing counts twice).
                step = Committed(None, outcome.state, outcome.trace, messages, now)
                _carry_figures(row, self._observed(lambda step=step: self.observer.figures(step)))
            try:
                with (
                    conflicts_as_domain_errors(f"enter {funnel.name}"),
                    TransactWrite(connection=self.connection) as transaction,
                ):
                    for _, row, _, messages in chunk:
                        _write(transaction, row, messages)
            except ConflictError:
                for contact, _, _, _ in chunk:  # one of them was entered meanwhile
                    contact.forget()
                    contact.changed()
                    self._enter(funnel, contact, None, depth=0)
                    row = Enrollment.get(contact.contact_id, key, consistent_read=True)
                    entered[contact.contact_id] = Entered(row, [], new=False)
                continue

            def carry_out(
                entry: tuple[_Contact, Enrollment, engine.Outcome, list[Message]],
            ) -> None:
                contact, row, outcome, messages = entry
                self._carry_out(row, outcome.decisions, messages, contact, 0, before_send, True)
                if listens and outcome.state.status != ACTIVE:
                    listening.unmark(contact.contact_id, [key])
                if announce:
                    self._on_event(
                        contact.contact_id,
                        EventInput(FUNNEL_ENTERED, {"funnel": funnel.name}, now, row.enrollment_id),
                        1,
                    )

            parallel.each(carry_out, chunk, workers)
            for contact, row, _, messages in chunk:
                entered[contact.contact_id] = Entered(row, messages, new=True)
        return entered

    def _mark_dates(self, contact_id: str, attributes: Mapping[str, object]) -> None:
        watched = [
            f.trigger.date.attribute for f in self.funnels.index().date_funnels if f.trigger.date
        ]
        date_triggers.mark(contact_id, date_triggers.dates_to_mark(attributes, watched))

    def wake_overdue(self, contact_id: str, enrollment_key: str) -> None:
        """The sweeper found this enrollment's wake-up overdue (lost by a crash or the
        scheduler): run it now. A wake-up that did run meanwhile finds nothing to do."""
        try:
            current = Enrollment.get(contact_id, enrollment_key, consistent_read=True)
        except Enrollment.DoesNotExist:
            return
        self._advance(
            _Contact(contact_id, self.clock()), enrollment_key, TimerInput(int(current.wake_token))
        )

    # --- events ---------------------------------------------------------------------------

    def _on_event(
        self, contact_id: str, event: EventInput, depth: int = 0, contact: _Contact | None = None
    ) -> None:
        index = self.funnels.index()
        interested = {funnel.name for funnel in index.candidates(event.name)}
        entries = index.entry_candidates(event.name)
        if not interested and not entries:
            return  # no funnel cares: no reads at all
        contact = contact or _Contact(contact_id, self.clock())
        if self._unheard(contact, event.name, bool(entries)):
            return  # only condition-driven funnels hear it, and none has the contact
        self._tidy_listening(contact)
        for row in list(contact.enrollments):
            if row.status == ACTIVE and row.funnel in interested:
                self._advance(contact, row.enrollment_key, event, depth=depth)
        for funnel in entries:
            if matches_trigger(funnel, event, contact.trigger_view(funnel)):
                self._enter(funnel, contact, event, depth)

    def _unheard(self, contact: _Contact, event_name: str, starts: bool) -> bool:
        """No enrollment of the contact hears the event, as its listed enrollments show."""
        listed = contact.listening
        if listed is None or not listed.kept or listed.keys or starts:
            return False
        return not self._named(event_name)

    def _named(self, event_name: str) -> bool:
        """Some funnel names the event: the current versions (the index), or an older version
        of a condition-driven funnel (whose enrollments on it hear what that version names)."""
        index = self.funnels.index()
        if index.named(event_name):
            return True
        if self._older_names[0] is not index:
            names = {
                name
                for funnel in index.wildcard
                for version in range(1, funnel.version)
                for name in self._names_of(funnel.name, version)
            }
            self._older_names = (index, frozenset(names))
        return event_name in self._older_names[1]

    def _names_of(self, name: str, version: int) -> set[str]:
        try:
            return mentioned(self.funnels.version(name, version))
        except UnknownFunnel:
            return set()

    def _tidy_listening(self, contact: _Contact) -> None:
        """With the contact's enrollments read anyway: list those a contact from before the
        list has, and unlist those that ended (a crash after their end, or a merge)."""
        listed = contact.listening
        if listed is None:
            return
        contact.listening = None  # once per input
        rows = {row.enrollment_key: row for row in contact.enrollments}
        if not listed.kept:
            keys = [key for key, row in rows.items() if self._listens(row)]
            listening.adopt(contact.contact_id, keys, listed.version)
            return
        ended = [key for key in listed.keys if key in rows and rows[key].status != ACTIVE]
        listening.unmark(contact.contact_id, ended)

    def _listens(self, row: Enrollment) -> bool:
        """An active enrollment on a condition-driven funnel version."""
        return row.status == ACTIVE and self._listened(row)

    def _listened(self, row: Enrollment) -> bool:
        """The enrollment's funnel version is condition-driven (it is listed while active)."""
        try:
            return condition_driven(self.funnels.version(row.funnel, int(row.funnel_version)))
        except UnknownFunnel:
            return True  # when in doubt, list it: a key too many costs a read

    def _enter(
        self, funnel: Funnel, contact: _Contact, trigger: EventInput | None, depth: int
    ) -> bool:
        past = [row for row in contact.enrollments if row.funnel == funnel.name]
        if any(row.status == ACTIVE for row in past):
            return False  # one journey through a funnel at a time
        if not may_enter(funnel, [(row.started_at, row.status) for row in past], contact.now):
            return False
        sequence = 1 + max((_sequence(row.enrollment_key) for row in past), default=0)
        key = f"{funnel.name}#{sequence:05d}"
        enrollment_id = f"{contact.contact_id}:{funnel.name}:{sequence}"
        outcome = engine.start(
            funnel,
            contact.view_for(funnel, self.workspace_cap),
            trigger,
            contact.now,
            enrollment_id,
            links=self.links,
            workspace_cap=self.workspace_cap,
        )
        row = Enrollment(
            contact.contact_id,
            key,
            enrollment_id=enrollment_id,
            funnel=funnel.name,
            funnel_version=funnel.version,
            started_at=contact.now,
        )
        if condition_driven(funnel):  # listed before it starts: never a listener unlisted
            listening.mark(contact.contact_id, key)
        try:
            self._commit(row, None, outcome, contact, depth)
        except ConflictError:
            return False  # a concurrent input started the same enrollment first
        if depth < MAX_INLINE_DEPTH:
            # Other funnels may exit on entering this one (`exit: entered_funnel`); the
            # contact's enrollments as this entry left them, its view read again if needed.
            contact.forget()
            self._on_event(
                contact.contact_id,
                EventInput(FUNNEL_ENTERED, {"funnel": funnel.name}, contact.now, enrollment_id),
                depth + 1,
                contact,
            )
        return True

    # --- advancing one enrollment ---------------------------------------------------------

    def _advance(
        self,
        contact: _Contact,
        key: str,
        input: Input,
        depth: int = 0,
        due_at: datetime | None = None,
    ) -> None:
        # A wake-up reads its enrollment eventually consistent (half the units): the commit is
        # guarded by the version anyway, and an answer that would change nothing (gone, ended,
        # a token moved on) is read again, consistent, before it is believed.
        # `due_at`: a scheduled wake-up's; it acts only if the enrollment waits until then.
        consistent = not isinstance(input, TimerInput)
        for _ in range(MAX_ATTEMPTS):
            row = self._load(contact, key, consistent)
            if (row is None or row.status != ACTIVE) and not consistent:
                consistent = True
                row = self._load(contact, key, consistent)
            if row is None or row.status != ACTIVE:
                return
            funnel = self.funnels.version(row.funnel, int(row.funnel_version))
            state = enrollment_state.state_of(row)
            if due_at is not None and not _waits_until(state, due_at):
                # A stray schedule (its attempt never committed), or a stale copy: believed
                # only once read consistent.
                if consistent:
                    return
                consistent = True
                continue
            held = self._held_by_funnel_state(row, state, input, contact)
            if held:
                return
            outcome = engine.decide(
                funnel,
                state,
                contact.view_for(funnel, self.workspace_cap),
                input,
                contact.now,
                links=self.links,
                workspace_cap=self.workspace_cap,
            )
            if outcome.state == state and not outcome.decisions:
                if consistent:
                    return
                consistent = True  # perhaps a stale copy: decide again on the stored state
                continue
            try:
                self._commit(row, state, outcome, contact, depth)
                return
            except ConflictError:
                consistent = True
                contact.forget()  # someone else advanced it: decide again on the fresh state
        log.error(
            "gave up advancing %s/%s after %d conflicts", contact.contact_id, key, MAX_ATTEMPTS
        )

    def _load(self, contact: _Contact, key: str, consistent: bool = True) -> Enrollment | None:
        try:
            return Enrollment.get(contact.contact_id, key, consistent_read=consistent)
        except Enrollment.DoesNotExist:
            if not consistent:
                return None  # read again, consistent, by the caller
        # The contact may have been merged into another since the wake-up was scheduled.
        try:
            merged_into = Contact.get(contact.contact_id).merged_into
        except Contact.DoesNotExist:
            return None
        if not merged_into:
            return None
        contact.contact_id = merged_into
        contact.forget()
        funnel = key.split("#", 1)[0]
        for row in Enrollment.query(
            merged_into, Enrollment.enrollment_key.startswith(f"{funnel}#"), consistent_read=True
        ):
            if row.enrollment_key == key or row.enrollment_id.startswith(f"{contact.contact_id}:"):
                return row
        return None

    def _held_by_funnel_state(
        self, row: Enrollment, state: EnrollmentState, input: Input, contact: _Contact
    ) -> bool:
        """Paused funnels hold their wake-ups (retried later); archived ones end on the next one."""
        if not isinstance(input, TimerInput) or input.token != state.token:
            return False
        funnel_state = self.funnels.state_of(row.funnel)
        if funnel_state == PAUSED and state.wake_at is not None:
            # Due when the enrollment says (what `handle_wakeup` checks), fired again later; a
            # failing schedule fails this delivery, which the scheduler retries.
            self.scheduler.schedule(
                Wakeup(
                    contact.contact_id,
                    row.enrollment_key,
                    state.token,
                    state.wake_at,
                    fires_at=_retry_at(contact.now),
                )
            )
            return True
        if funnel_state == ARCHIVED:
            ended = state.copy()
            ended.status, ended.reason, ended.ended_at = "exited", "funnel archived", contact.now
            ended.wake_at = None
            with contextlib.suppress(ConflictError):
                self._commit(row, state, engine.Outcome(ended, []), contact, depth=0)
            return True
        return False

    # --- committing a step and carrying out its decisions -------------------------------

    def _commit(
        self,
        row: Enrollment,
        before: EnrollmentState | None,
        outcome: engine.Outcome,
        contact: _Contact,
        depth: int,
    ) -> None:
        messages = self._stage(row, outcome, contact)
        first = self._far_wakeup(row, outcome, contact, depth)
        if first is not None:
            # Scheduled before the commit that records it, which then needs no `by_wake`
            # entry: a failure here leaves nothing committed (the input is delivered again);
            # a crash or a lost race after it leaves a stray that changes nothing.
            self.scheduler.schedule(first)
            row.wake_shard = None
        for message in messages:  # claimed by the commit that names them: no claim write
            if message.status == PENDING:
                message.status, message.attempts = SENDING, 1
        # The messages to send are written first, the commit names them (chalicelib.runtime.
        # sends); one with nothing to send (no reachable channel) commits with the step.
        to_send = [m for m in messages if m.status == SENDING]
        written = sends.put_before(row, to_send, int(row.version or 0), self.clock())
        messages = [*written, *(m for m in messages if m.status != SENDING)]
        if written:
            row.committed_sends = {*(row.committed_sends or ()), *map(sends.send_name, written)}
        step = Committed(before, outcome.state, outcome.trace, messages, contact.now)
        # Its figures commit with it, on the enrollment: a duplicated or stale input commits (and
        # counts) nothing, and a crash cannot count it twice or lose it.
        _carry_figures(row, self._observed(lambda: self.observer.figures(step)))
        unsent = [m for m in messages if m.status != SENDING]  # nothing to send: written with it
        with conflicts_as_domain_errors(f"advance {row.contact_id}/{row.enrollment_key}"):
            if unsent:
                with TransactWrite(connection=self.connection) as transaction:
                    _write(transaction, row, unsent)
            else:
                row.save()  # its version attribute guards it (a new row: "does not exist")
        contact.committed(row)
        if outcome.state.status != ACTIVE and self._listened(row):
            listening.unmark(row.contact_id, [row.enrollment_key])
        cancelled = before if before is not None and before.wake_at is not None else None
        self._carry_out(
            row,
            outcome.decisions,
            messages,
            contact,
            depth,
            claimed=True,
            cancelled=cancelled,
            scheduled=first,
        )

    def _far_wakeup(
        self, row: Enrollment, outcome: engine.Outcome, contact: _Contact, depth: int
    ) -> Wakeup | None:
        """The wake-up the outcome leaves pending, when it is due late enough to be scheduled
        before the commit (SCHEDULE_FIRST_AFTER); None when there is none, or it is run
        inline or scheduled after the commit (kept in `by_wake` for the sweeper)."""
        pending = _pending(outcome)
        # As of the later of the step's time and the clock (a paged job's step is dated when
        # the job started): a wake-up that could fire before the commit keeps `by_wake`.
        if pending is None or pending.at <= max(contact.now, self.clock()) + SCHEDULE_FIRST_AFTER:
            return None
        if self._inline(pending, contact, depth):
            return None
        return Wakeup(row.contact_id, row.enrollment_key, pending.token, pending.at)

    def _inline(self, decision: ScheduleWakeup, contact: _Contact, depth: int) -> bool:
        """Due sooner than the scheduler could fire it: run now, as of its due time."""
        return decision.at <= contact.now + self.scheduler.precision and depth < MAX_INLINE_DEPTH

    def _stage(self, row: Enrollment, outcome: engine.Outcome, contact: _Contact) -> list[Message]:
        """The enrollment row as the outcome leaves it, and the records of the messages it
        decided: what its commit writes (with the messages that have nothing to send)."""
        state = outcome.state
        active = state.status == ACTIVE
        row.status = state.status
        row.current_step = state.step
        row.state = enrollment_state.stored(state)
        row.wake_token = state.token
        row.wake_at = state.wake_at if active else None
        if not (active and state.wake_at):
            row.wake_shard = None
        elif _pending(outcome) is not None:  # a new wake-up: in by_wake unless scheduled first
            row.wake_shard = _wake_shard(row.enrollment_key)
        # else the wake-up it had is still pending: its by_wake entry (or none) stays as it is
        row.ended_at = state.ended_at
        return [
            self._message_row(d, row, contact)
            for d in outcome.decisions
            if isinstance(d, SendMessage | CallWebhook)
        ]

    def _carry_out(
        self,
        row: Enrollment,
        decisions: Iterable[object],
        messages: Sequence[Message],
        contact: _Contact,
        depth: int,
        before_send: Callable[[Message], None] | None = None,
        claimed: bool = False,
        cancelled: EnrollmentState | None = None,
        scheduled: Wakeup | None = None,
    ) -> None:
        """`cancelled`: the state before the step, whose pending wake-up a CancelWakeup of its
        token deletes (named by its due time); `scheduled`: the wake-up that went to the
        scheduler before the commit."""
        for decision in decisions:
            if isinstance(decision, CancelWakeup):
                # Only the stored wake-up was ever scheduled (one decided and cancelled within
                # this step was not); a stray left uncancelled fires and changes nothing.
                if cancelled is None or decision.token != cancelled.token:
                    continue
                assert cancelled.wake_at is not None
                wakeup = Wakeup(
                    row.contact_id, row.enrollment_key, decision.token, cancelled.wake_at
                )
                self.scheduler.cancel(wakeup)
            elif isinstance(decision, UpdateProfile):
                apply_profile_update(row.contact_id, decision)
                self._mark_dates(row.contact_id, decision.set)
                claim_identities(
                    row.contact_id, decision, contact.now, self.phone_region, merge=False
                )
                contact.forget()
        for message in messages:
            if message.status == PENDING or (claimed and message.status == SENDING):
                if before_send is not None:
                    before_send(message)
                self.dispatcher.dispatch(message, contact.snapshot.reach, claimed=claimed)
        for decision in decisions:
            if isinstance(decision, ScheduleWakeup):
                if scheduled is not None and (decision.token, decision.at) == (
                    scheduled.token,
                    scheduled.due_at,
                ):
                    continue  # scheduled before the commit
                if self._schedule(row, decision, contact, depth):
                    contact.changed()  # advanced inline, by another input
            elif isinstance(decision, EnrollInFunnel):
                contact.changed()
                try:
                    self.enroll(decision.funnel_name, row.contact_id)
                except UnknownFunnel:
                    log.warning(
                        "%s: goto unknown or inactive funnel %s", row.funnel, decision.funnel_name
                    )
        for decision in decisions:  # last: a merge moves this enrollment and its messages
            if isinstance(decision, UpdateProfile):
                claim_identities(
                    row.contact_id, decision, contact.now, self.phone_region, merge=True
                )
                contact.changed()  # a merge may have moved its enrollments

    def _schedule(
        self, row: Enrollment, decision: ScheduleWakeup, contact: _Contact, depth: int
    ) -> bool:
        """True when it ran the wake-up inline."""
        wakeup = Wakeup(row.contact_id, row.enrollment_key, decision.token, decision.at)
        if self._inline(decision, contact, depth):
            later = _Contact(row.contact_id, max(contact.now, decision.at))
            self._advance(later, row.enrollment_key, TimerInput(decision.token), depth + 1)
            return True
        self.scheduler.schedule(wakeup)
        return False

    def _message_row(self, decision: object, row: Enrollment, contact: _Contact) -> Message:
        if isinstance(decision, CallWebhook):
            key, step_id, template_id = decision.idempotency_key, key_step(decision), None
            channels = ["webhook"]
            by_channel: dict[str, object] = {
                "webhook": {"url": decision.url, "json": decision.body}
            }
        else:
            assert isinstance(decision, SendMessage)
            key, step_id, template_id = (
                decision.idempotency_key,
                decision.step_id,
                decision.template_id,
            )
            channels, by_channel = list(decision.channels), dict(decision.content)
        message_id = message_id_of(key)
        routable = bool(channels)
        return Message(
            message_id,
            idempotency_key=key,
            contact_id=row.contact_id,
            enrollment_id=row.enrollment_id,
            enrollment_key=row.enrollment_key,
            funnel=row.funnel,
            funnel_version=row.funnel_version,
            step_id=step_id,
            template_id=template_id,
            channel=channels[0] if routable else "none",  # the first choice until it is sent
            content=pending_content(channels, by_channel),
            status=PENDING if routable else SKIPPED,
            error=None if routable else "no channel of the step reaches this contact",
            created_at=contact.now,
            dispatch_shard=dispatch_shard(message_id) if routable else None,
            # Listed on the contact (by_contact) once its outcome is recorded: at once when
            # there is none to wait for (committed with the step), else by the dispatcher.
            recorded_for=None if routable else row.contact_id,
        )

    def _observed(self, report: Callable[[], Figures | None]) -> Figures | None:
        try:
            return report()
        except Exception:  # analytics must never stop a funnel
            log.exception("runtime observer failed")
            return None


def first_message_key(enrollment_id: str, step_id: str) -> str:
    """The idempotency key of a step's first send in an enrollment (engine.SendMessage)."""
    return f"{enrollment_id}:{step_id}:1"


def _carry_figures(row: Enrollment, figures: Figures | None) -> None:
    """The step's figures on the row its commit writes, naming the version it writes (the
    stream worker counts a record whose `figures_of` is new: chalicelib.analytics.step_tallies).
    """
    row.figures = figures
    row.figures_of = int(row.version or 0) + 1 if figures else None


def _write(transaction: TransactWrite, row: Enrollment, messages: Sequence[Message]) -> None:
    transaction.save(row)  # its version attribute guards it (a new row: "does not exist")
    for message in messages:
        transaction.save(message, condition=Message.message_id.does_not_exist())


def key_step(decision: CallWebhook) -> str:
    """The step id inside an idempotency key "{enrollment_id}:{step_id}:{visit}"."""
    return decision.idempotency_key.rsplit(":", 2)[-2]


def _chunks(
    staged: Sequence[tuple[_Contact, Enrollment, engine.Outcome, list[Message]]], limit: int
) -> Iterable[list[tuple[_Contact, Enrollment, engine.Outcome, list[Message]]]]:
    """Consecutive entries whose rows and messages fit in one transaction."""
    chunk: list[tuple[_Contact, Enrollment, engine.Outcome, list[Message]]] = []
    size = 0
    for entry in staged:
        items = 1 + len(entry[3])
        if chunk and size + items > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += items
    if chunk:
        yield chunk


def _sequence(enrollment_key: str) -> int:
    try:
        return int(enrollment_key.rsplit("#", 1)[1])
    except (IndexError, ValueError):
        return 0


def _retry_at(now: datetime) -> datetime:
    """A held wake-up's next try: the first multiple of PAUSE_RETRY (since the epoch) at least
    PAUSE_RETRY from now. On that grid the retries of one wake-up share their names, so the
    chain of retries and the sweeper's (or a duplicate delivery's) do not multiply, and a retry
    is never named like the schedule that is firing."""
    step = PAUSE_RETRY.total_seconds()
    due = math.ceil((now + PAUSE_RETRY).timestamp() / step) * step
    return datetime.fromtimestamp(due, UTC)


def _pending(outcome: engine.Outcome) -> ScheduleWakeup | None:
    """The decision that scheduled the wake-up the outcome's state waits for, if any."""
    state = outcome.state
    if state.status != ACTIVE or state.wake_at is None:
        return None
    for decision in outcome.decisions:
        if isinstance(decision, ScheduleWakeup) and decision.token == state.token:
            return decision if _same_moment(decision.at, state.wake_at) else None
    return None


def _waits_until(state: EnrollmentState, due_at: datetime) -> bool:
    """The enrollment still waits for a wake-up due then (its token is checked by the engine)."""
    return state.wake_at is not None and _same_moment(state.wake_at, due_at)


def _same_moment(a: datetime, b: datetime) -> bool:
    # The state keeps milliseconds (core.state.to_ms); a payload keeps what was decided.
    return to_ms(a) == to_ms(b)


def _wake_shard(enrollment_key: str) -> str:
    return f"w{int(hashlib.sha256(enrollment_key.encode()).hexdigest()[:8], 16) % WAKE_SHARDS}"
