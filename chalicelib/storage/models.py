"""PynamoDB models: one table per kind of item, with the access patterns each serves.

No request path uses Scan: every read below is a GetItem or a Query on a key or a GSI.
Table names are placeholders until `chalicelib.storage.binding.bind(settings)` sets them per stage.

- contacts (contact_id): get a profile; conditional update guarded by `version`; the worker's
  profile update returns the item (ALL_OLD, no read units), `listens` included.
- identities (identity = "email:a@b.c"): get → contact; uniqueness by conditional put;
  GSI by_contact lists a contact's identities.
- events (subject, event_id): the event log. Routes append each inbound event once (a conditional
  put on its source id); its stream feeds the worker. A contact's timeline is the union of its
  subjects (its identity keys and "contact:{id}"), one Query each. TTL expires_at.
- funnels (name, version; 0 = head): get the head (state, latest version) or one version;
  GSI by_listing (sparse, heads only) lists all funnels.
- enrollments (contact_id, enrollment_key = "funnel#started#id"): a contact's enrollments, all or
  one funnel's by key prefix; GSI by_wake (sparse, sharded) finds overdue wake-ups for the
  sweeper (those due within 15 minutes of their step: farther ones are scheduled before the
  commit and left out, chalicelib.runtime.runner.SCHEDULE_FIRST_AFTER). (A funnel's figures
  come from the counters: no index lists a funnel's enrollments, which would cost each
  enrollment a write when it starts and two when it ends.)
- messages (message_id): get by id (the idempotency record of a send); GSI by_contact (sparse:
  a contact's messages from the moment their outcome is recorded, which frequency caps count),
  GSI by_provider_id (sparse: status callbacks that name only the provider's id, SendGrid's
  and Twilio's), GSI by_via (sparse: the outbox), GSI by_dispatch (sparse,
  sharded: messages not yet sent, for crash recovery), GSI by_onsite (sparse: a contact's
  on-site messages waiting to be shown, what the snippet's poll reads), GSI by_onsite_expiry
  (sparse, sharded: on-site messages whose time to be shown ran out, for the sweeper).
- counters (scope, metric): ADD on write; a scope's metrics by Query.
- receipts (key): idempotency of inbound deliveries (messageId, webhook ids) by conditional put.
- date_marks (day_key = "attribute#MM-DD", contact_id): who has a date attribute falling on a day,
  for date-triggered funnels; GSI by_contact for erasure.
- wakeups (name): local scheduler only; GSI by_due (shard, due_at) finds due wake-ups.
- contact_stats (contact_id): analytics' own view of a contact (cohort, orders, RFM, saved
  segments); GSI by_buyer (sparse, sharded) lists buyers for the RFM job; GSI by_recheck
  (sparse, sharded) finds contacts whose segment membership may change with time; GSI by_shard
  (sharded) lists every contact, for the backfill of a newly saved segment.
- segments (group = "segment", name): saved segment definitions, all listed by one Query.
- jobs (job_id): paged jobs (chalicelib/paging): checkpoint, lease, counts; conditional updates
  only. GSI by_active (sparse) finds queued and running jobs for the runner's tick; GSI by_kind
  lists a kind's jobs, newest first. TTL expires_at drops finished jobs after a month.
- broadcasts (group = "broadcast", name): one-off campaigns (chalicelib/runtime/broadcasts.py):
  definition, schedule, the paged job that sends it and, once it ends, its final counts; all
  listed by one Query.
"""

from __future__ import annotations

import json
import zlib
from datetime import timedelta
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.constants import BINARY, STRING
from pynamodb.exceptions import AttributeDeserializationError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model


class CompactJSONAttribute(JSONAttribute):
    """JSON without the spaces after separators: an item is billed per KB."""

    def serialize(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))


class PackedJSONAttribute(Attribute[Any]):
    """JSON, zlib-compressed when that makes it smaller, stored as binary. A message's rendered
    content sits on the item that its send, its dispatch entry's removal and every provider
    status rewrite, each billed per KB of the item: an email's HTML shrinks several times.
    Items written before hold plain JSON strings, read as they are."""

    attr_type = BINARY
    _PACKED, _PLAIN = b"z", b"j"

    def serialize(self, value: Any) -> bytes:
        plain = json.dumps(value, separators=(",", ":")).encode()
        packed = zlib.compress(plain, 6)
        return self._PACKED + packed if len(packed) < len(plain) else self._PLAIN + plain

    def get_value(self, value: dict[str, Any]) -> Any:
        for kind in (BINARY, STRING):  # STRING: a JSONAttribute's, before
            if kind in value:
                return value[kind]
        raise AttributeDeserializationError(self.attr_name, self.attr_type)

    def deserialize(self, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value)
        data = bytes(value)
        body = data[1:]
        return json.loads(zlib.decompress(body) if data[:1] == self._PACKED else body)


STREAM_VIEW = "NEW_AND_OLD_IMAGES"  # the old image: a replaced tally's figures, a commit's token


class _Meta:
    billing_mode = "PAY_PER_REQUEST"
    max_retry_attempts = 3


class Contact(Model):
    class Meta(_Meta):
        table_name = "contacts"

    contact_id = UnicodeAttribute(hash_key=True)
    attributes = MapAttribute(default=dict)  # profile traits, newest value wins
    tags = UnicodeSetAttribute(null=True)
    consents = MapAttribute(default=dict)  # channel -> {"granted": bool, "at": iso, "source": str}
    timezone = UnicodeAttribute(null=True)
    first_seen = UTCDateTimeAttribute(null=True)
    last_seen = UTCDateTimeAttribute(null=True)
    first_touch = MapAttribute(null=True)  # UTM/referrer of the first visit, kept on merge
    last_touch = MapAttribute(null=True)
    sessions = NumberAttribute(default=0)
    page_views = NumberAttribute(default=0)
    orders_count = NumberAttribute(default=0)
    total_spent = NumberAttribute(default=0)
    last_order_at = UTCDateTimeAttribute(null=True)
    merged_into = UnicodeAttribute(null=True)  # set on the contact that a merge absorbed
    merged_from = UnicodeSetAttribute(null=True)  # the tombstones pointing here (GDPR erase)
    # The event log's last position applied per subject the contact's entries come under: a
    # redelivered stream batch finds its entries applied and adds nothing twice (profile_store).
    seen = MapAttribute(null=True)
    # The contact's active enrollments in funnel versions that listen to every event (their
    # conditions may change on any): an event no funnel names is checked against the contact's
    # enrollments only when one is listed (chalicelib.runtime.listening). `listens_kept`: every
    # such enrollment of the contact is listed (unset on contacts from before the list).
    listens = UnicodeSetAttribute(null=True)
    listens_kept = BooleanAttribute(null=True)
    version = VersionAttribute()


class ContactIdentities(GlobalSecondaryIndex["Identity"]):
    class Meta:
        index_name = "by_contact"
        projection = AllProjection()

    contact_id = UnicodeAttribute(hash_key=True)
    identity = UnicodeAttribute(range_key=True)


class Identity(Model):
    """One way to recognise a person; the key is unique, so a conditional put claims it."""

    class Meta(_Meta):
        table_name = "identities"

    identity = UnicodeAttribute(hash_key=True)  # "{kind}:{value}", e.g. "phone:+15551234567"
    contact_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    value = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    unreachable = BooleanAttribute(default=False)  # a provider said this address is dead
    # The trusted source that proved it (chalicelib.core.trust: "shop", "server"...); None for
    # a claim. A contact holding a proven identity is a known person: claims leave it alone.
    proof = UnicodeAttribute(null=True)
    window_until = UTCDateTimeAttribute(null=True)  # Meta's 24-hour messaging window
    device = UnicodeAttribute(null=True)  # anon: hash of the snippet's device key (onsite/)
    by_contact = ContactIdentities()


class Event(Model):
    """One entry of the event log (chalicelib.eventlog): what came in, or what the worker
    derived, exactly once per source id."""

    class Meta(_Meta):
        table_name = "events"
        stream_view_type = STREAM_VIEW

    retention = timedelta(days=400)  # set per stage by storage.binding.bind

    subject = UnicodeAttribute(hash_key=True)  # an identity key, "contact:{id}", "message:{id}"...
    event_id = UnicodeAttribute(range_key=True)  # "{namespace}:{source id}": unique per subject
    type = UnicodeAttribute()  # track, identify, page, screen, alias, group; status, consent...
    name = UnicodeAttribute()
    timestamp = UTCDateTimeAttribute()  # when it happened
    received_at = UTCDateTimeAttribute()
    properties = MapAttribute(default=dict)
    context = MapAttribute(null=True)
    keys = ListAttribute(of=UnicodeAttribute, null=True)  # identity keys the event carries
    lookup = ListAttribute(of=UnicodeAttribute, null=True)  # keys only looked up (alias)
    source = UnicodeAttribute(default="api")
    trust = UnicodeAttribute(default="claim")  # what its source proves (chalicelib.core.trust)
    anchor = UnicodeAttribute(null=True)  # the identity an identity hash proved
    correlation = UnicodeAttribute(null=True)  # the request that stored it (logs)
    expires_at = TTLAttribute(null=True)


class FunnelListing(GlobalSecondaryIndex["Funnel"]):
    class Meta:
        index_name = "by_listing"
        projection = AllProjection()

    listing = UnicodeAttribute(hash_key=True)  # "head" on head items only: a sparse index
    name = UnicodeAttribute(range_key=True)


class Funnel(Model):
    """Version 0 is the head (state, latest version); versions 1..n are immutable definitions."""

    class Meta(_Meta):
        table_name = "funnels"

    name = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    listing = UnicodeAttribute(null=True)
    state = UnicodeAttribute(null=True)  # head: active | paused | archived
    latest_version = NumberAttribute(null=True)  # head
    definition = JSONAttribute(null=True)  # version: the validated funnel
    source = UnicodeAttribute(null=True)  # version: the YAML as uploaded
    checksum = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    lock = VersionAttribute()
    by_listing = FunnelListing()


class DueEnrollments(GlobalSecondaryIndex["Enrollment"]):
    class Meta:
        index_name = "by_wake"
        projection = KeysOnlyProjection()

    wake_shard = UnicodeAttribute(hash_key=True)  # set only while a wake-up is pending: sparse
    wake_at = UTCDateTimeAttribute(range_key=True)


class Enrollment(Model):
    class Meta(_Meta):
        table_name = "enrollments"
        stream_view_type = STREAM_VIEW  # a commit's figures are told from the item's old ones

    contact_id = UnicodeAttribute(hash_key=True)
    enrollment_key = UnicodeAttribute(range_key=True)  # "{funnel}#{started iso}#{suffix}"
    enrollment_id = UnicodeAttribute()
    funnel = UnicodeAttribute()
    funnel_version = NumberAttribute()
    status = UnicodeAttribute()  # active | converted | exited | completed
    current_step = UnicodeAttribute(null=True)
    state = JSONAttribute(default=dict)  # the engine's EnrollmentState
    wake_at = UTCDateTimeAttribute(null=True)
    wake_token = NumberAttribute(default=0)
    wake_shard = UnicodeAttribute(null=True)
    # "{step}:{visit}" of every send its versions committed: a step's messages are written
    # before the commit (chalicelib.runtime.sends), and the sweeper sends a stuck one only
    # when its enrollment names it.
    committed_sends = UnicodeSetAttribute(null=True)
    # What the commit that wrote this version adds to the counters ({scope: {metric: amount}},
    # chalicelib.analytics.step_tallies) and the version it names: the enrollments' stream
    # worker counts them once, when a write brings a new `figures_of`. None: nothing to count.
    figures = CompactJSONAttribute(null=True)
    figures_of = NumberAttribute(null=True)
    started_at = UTCDateTimeAttribute()
    ended_at = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()
    by_wake = DueEnrollments()


class MessagesByContact(GlobalSecondaryIndex["Message"]):
    class Meta:
        index_name = "by_contact"
        projection = KeysOnlyProjection()  # small: status changes must not rewrite the content

    # The contact, once the outcome is recorded; stored as `contact_id`, the name this index has
    # been keyed on since the first release (Message.recorded_for says why).
    recorded_for = UnicodeAttribute(hash_key=True, attr_name="contact_id")
    created_at = UTCDateTimeAttribute(range_key=True)


class MessagesByProviderId(GlobalSecondaryIndex["Message"]):
    class Meta:
        index_name = "by_provider_id"
        projection = KeysOnlyProjection()

    provider_id = UnicodeAttribute(hash_key=True)


class MessagesBySender(GlobalSecondaryIndex["Message"]):
    class Meta:
        index_name = "by_via"
        projection = KeysOnlyProjection()

    via = UnicodeAttribute(hash_key=True)  # "outbox" lists the outbox
    created_at = UTCDateTimeAttribute(range_key=True)


class UndispatchedMessages(GlobalSecondaryIndex["Message"]):
    class Meta:
        index_name = "by_dispatch"
        projection = KeysOnlyProjection()

    dispatch_shard = UnicodeAttribute(hash_key=True)  # set only until sent or failed: sparse
    created_at = UTCDateTimeAttribute(range_key=True)


class OnsiteInbox(GlobalSecondaryIndex["Message"]):
    class Meta:
        index_name = "by_onsite"
        projection = AllProjection()  # the poll reads what it shows from the index alone

    onsite_inbox = UnicodeAttribute(hash_key=True)  # contact id, only while waiting: sparse
    expires_at = UTCDateTimeAttribute(range_key=True)


class OnsiteExpiry(GlobalSecondaryIndex["Message"]):
    class Meta:
        index_name = "by_onsite_expiry"
        projection = KeysOnlyProjection()

    onsite_shard = UnicodeAttribute(hash_key=True)  # only while waiting to be shown: sparse
    expires_at = UTCDateTimeAttribute(range_key=True)


RECIPIENT = "recipient_id"  # Message.contact_id's stored name


class Message(Model):
    """One send. Created with a conditional put before sending: it is the idempotency record."""

    class Meta(_Meta):
        table_name = "messages"

    message_id = UnicodeAttribute(hash_key=True)
    idempotency_key = UnicodeAttribute()
    contact_id = UnicodeAttribute(attr_name=RECIPIENT)
    # The contact again, set by the write that records the send's outcome (sent, deferred,
    # held, failed, skipped), never by the write that creates the message: by_contact, which
    # frequency caps count, lists only messages a committed step decided and a dispatcher
    # acted on, so a message record that no step committed can never count against a cap.
    # The step transaction then writes one index entry less (2 WRU), the outcome's write one
    # more (1 WRU).
    # Stored as `contact_id`, the attribute by_contact was keyed on before: a deployed stage
    # upgrades without changing the index's key, which CloudFormation cannot do in place
    # (a new index and the old one's removal would take two deploys and a backfill). Messages
    # from before carry `contact_id` only: listed, as every message then was from creation.
    recorded_for = UnicodeAttribute(null=True, attr_name="contact_id")
    # Written before its step's commit (chalicelib.runtime.sends): the enrollment version the
    # step was decided on. None: written with the commit, in its transaction.
    decided_on = NumberAttribute(null=True)
    enrollment_id = UnicodeAttribute(null=True)
    enrollment_key = UnicodeAttribute(null=True)
    funnel = UnicodeAttribute(null=True)
    funnel_version = NumberAttribute(null=True)
    step_id = UnicodeAttribute(null=True)
    template_id = UnicodeAttribute(null=True)
    channel = UnicodeAttribute()  # email | sms | whatsapp | telegram | messenger | webhook ...
    # Set on the outbox's sends only ("outbox"): by_via lists the outbox, and a provider's send
    # (its sender is the channel's) would only add an index entry nobody reads.
    via = UnicodeAttribute(null=True)
    address = UnicodeAttribute(null=True)
    content = PackedJSONAttribute(default=dict)
    # The provider's id, indexed (by_provider_id) only for providers whose callbacks may name
    # nothing else (SendGrid, Twilio); the others' ids are kept unindexed in provider_ref.
    provider_id = UnicodeAttribute(null=True)
    provider_ref = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # pending | sending | sent | delivered | opened | ... | failed
    status_history = ListAttribute(of=MapAttribute, default=list)
    attempts = NumberAttribute(default=0)
    error = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    sent_at = UTCDateTimeAttribute(null=True)
    not_before = UTCDateTimeAttribute(null=True)  # deferred: quiet hours, provider back-off
    dispatch_shard = UnicodeAttribute(null=True)
    onsite_inbox = UnicodeAttribute(null=True)  # on-site: the contact, until shown or expired
    onsite_shard = UnicodeAttribute(null=True)
    expires_at = UTCDateTimeAttribute(null=True)  # on-site: dropped unless shown before then
    test = BooleanAttribute(null=True)  # a test send: in no figure
    version = VersionAttribute()
    by_contact = MessagesByContact()
    by_provider_id = MessagesByProviderId()
    by_via = MessagesBySender()
    by_dispatch = UndispatchedMessages()
    by_onsite = OnsiteInbox()
    by_onsite_expiry = OnsiteExpiry()

    @classmethod
    def from_raw_data(cls, data: dict[str, Any]) -> Message:
        return super().from_raw_data(_with_recipient(data))

    def deserialize(self, attribute_values: dict[str, dict[str, Any]]) -> None:
        super().deserialize(_with_recipient(attribute_values))


def _with_recipient(item: dict[str, Any]) -> dict[str, Any]:
    """A message stored before `recipient_id` names its contact only in `contact_id`."""
    if RECIPIENT not in item and "contact_id" in item:
        return {**item, RECIPIENT: item["contact_id"]}
    return item


class MessageBody(Model):
    """A sent message's long rendered fields (an email's HTML and text), apart from the message
    and written once at the send: the message item, which its dispatch entry's removal and every
    provider status rewrite (each billed per KB of the item), stays small. Read through
    chalicelib.storage.messages.content_of."""

    class Meta(_Meta):
        table_name = "message_bodies"

    message_id = UnicodeAttribute(hash_key=True)
    content = PackedJSONAttribute(default=dict)


class Counter(Model):
    class Meta(_Meta):
        table_name = "counters"

    scope = UnicodeAttribute(hash_key=True)  # "funnel#{name}#{version}", "day#2026-11-23", ...
    metric = UnicodeAttribute(
        range_key=True
    )  # "step#{id}#sent", "revenue", ... "#~{lane}": a shard
    value = NumberAttribute(default=0)
    folded = UnicodeAttribute(null=True)  # a shard's last tally position folded in (analytics.fold)


class Receipt(Model):
    """Proof that an inbound delivery was processed once (Segment messageId, webhook ids...)."""

    class Meta(_Meta):
        table_name = "receipts"

    key = UnicodeAttribute(hash_key=True)  # "{source}:{id}"
    created_at = UTCDateTimeAttribute()
    result = JSONAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class MarksByContact(GlobalSecondaryIndex["DateMark"]):
    class Meta:
        index_name = "by_contact"
        projection = KeysOnlyProjection()

    contact_id = UnicodeAttribute(hash_key=True)
    day_key = UnicodeAttribute(range_key=True)


class DateMark(Model):
    """Contacts by the month and day of a date attribute (birthday, renewal), so date-triggered
    funnels find who is due today with a Query. A mark may outlive a changed attribute: the
    job re-checks the contact's current value before enrolling."""

    class Meta(_Meta):
        table_name = "date_marks"

    day_key = UnicodeAttribute(hash_key=True)  # "{attribute}#{MM-DD}"
    contact_id = UnicodeAttribute(range_key=True)
    by_contact = MarksByContact()


class DueWakeups(GlobalSecondaryIndex["Wakeup"]):
    class Meta:
        index_name = "by_due"
        projection = AllProjection()

    shard = UnicodeAttribute(hash_key=True)
    due_at = UnicodeAttribute(range_key=True)  # ISO UTC, sortable


class Wakeup(Model):
    """A pending wake-up of the local scheduler (EventBridge Scheduler holds them on AWS)."""

    class Meta(_Meta):
        table_name = "wakeups"

    name = UnicodeAttribute(hash_key=True)
    shard = UnicodeAttribute(default="due")
    due_at = UnicodeAttribute()
    payload = JSONAttribute()
    by_due = DueWakeups()


# --- analytics (chalicelib/analytics owns these) -------------------------------------------


class Buyers(GlobalSecondaryIndex["ContactStats"]):
    class Meta:
        index_name = "by_buyer"
        projection = AllProjection()  # the RFM job reads every figure it needs from the index

    buyer_shard = UnicodeAttribute(hash_key=True)  # set on the first order only: sparse
    contact_id = UnicodeAttribute(range_key=True)


class DueRechecks(GlobalSecondaryIndex["ContactStats"]):
    class Meta:
        index_name = "by_recheck"
        projection = KeysOnlyProjection()

    recheck_shard = UnicodeAttribute(hash_key=True)  # set while a time-based recheck is due
    recheck_at = UTCDateTimeAttribute(range_key=True)


class EveryContact(GlobalSecondaryIndex["ContactStats"]):
    class Meta:
        index_name = "by_shard"
        projection = KeysOnlyProjection()

    shard = UnicodeAttribute(hash_key=True)  # every contact: a new saved segment's backfill
    contact_id = UnicodeAttribute(range_key=True)


class ContactStats(Model):
    """Analytics' figures of one contact, kept on write from its events."""

    class Meta(_Meta):
        table_name = "contact_stats"

    contact_id = UnicodeAttribute(hash_key=True)
    shard = UnicodeAttribute(null=True)
    first_seen = UTCDateTimeAttribute()
    cohort = UnicodeAttribute(default="(none)")  # first-touch source
    campaign = UnicodeAttribute(default="")  # first-touch UTM campaign
    orders = NumberAttribute(default=0)
    revenue = NumberAttribute(default=0)  # historical LTV
    last_order_at = UTCDateTimeAttribute(null=True)
    buyer_shard = UnicodeAttribute(null=True)
    rfm = MapAttribute(null=True)  # {"r", "f", "m", "segment", "at"} from the last RFM run
    segments = UnicodeSetAttribute(null=True)  # saved segments the contact is in
    stages = UnicodeSetAttribute(null=True)  # site funnel stages reached (analytics/site_funnel)
    segment_job = MapAttribute(null=True)  # {"job", "entered", "left"}: a job's last change
    recheck_at = UTCDateTimeAttribute(null=True)
    recheck_shard = UnicodeAttribute(null=True)
    merged_into = UnicodeAttribute(null=True)
    # What made each change, so a redelivered event finds its own doing (analytics.fold):
    first_event = UnicodeAttribute(null=True)  # the event of the first sighting
    order_keys = UnicodeSetAttribute(null=True)  # the orders counted (short keys)
    first_order = UnicodeAttribute(null=True)  # the key of the first
    merge_note = MapAttribute(null=True)  # on an absorbed contact: the survivor as merged into
    stage_events = MapAttribute(null=True)  # the site funnel's stages: the event reaching each
    absorbed = UnicodeSetAttribute(null=True)  # contacts whose orders were moved here
    by_buyer = Buyers()
    by_recheck = DueRechecks()
    by_shard = EveryContact()


class SavedSegment(Model):
    class Meta(_Meta):
        table_name = "segments"

    group = UnicodeAttribute(hash_key=True, default="segment")  # one partition: list by Query
    name = UnicodeAttribute(range_key=True)
    condition = JSONAttribute()  # a funnel-language condition (chalicelib.core.conditions)
    description = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


# --- paged jobs (chalicelib/paging owns these) ----------------------------------------------


class ActiveJobs(GlobalSecondaryIndex["PagedJob"]):
    class Meta:
        index_name = "by_active"
        projection = KeysOnlyProjection()

    active = UnicodeAttribute(hash_key=True)  # "active" while queued or running: sparse
    created_at = UTCDateTimeAttribute(range_key=True)


class JobsByKind(GlobalSecondaryIndex["PagedJob"]):
    class Meta:
        index_name = "by_kind"
        projection = KeysOnlyProjection()  # checkpoints rewrite the job: keep the index out of it

    kind = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class PagedJob(Model):
    """One run of a job that reads many items page by page (RFM, a segment backfill...)."""

    class Meta(_Meta):
        table_name = "jobs"

    job_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    status = UnicodeAttribute()  # queued | running | done | failed | cancelled
    active = UnicodeAttribute(null=True)
    params = JSONAttribute(default=dict)
    as_of = UTCDateTimeAttribute()  # the business time the job computes for
    not_before = UTCDateTimeAttribute(null=True)  # business time: queued, not run before then
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
    plan = JSONAttribute(null=True)  # [[partition, ...] per pass], fixed by the first invocation
    cursor = JSONAttribute(default=dict)  # {"pass", "partition", "key": LastEvaluatedKey}
    counts = JSONAttribute(default=dict)  # what the kind counts, committed with the cursor
    state = JSONAttribute(default=dict)  # what the kind carries between pages (a histogram)
    progress = JSONAttribute(default=dict)  # per pass: {"done": n, "total": estimate}
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # wall-clock epoch seconds
    invocations = NumberAttribute(default=0)
    pages = NumberAttribute(default=0)
    failures = NumberAttribute(default=0)  # consecutive failed invocations
    error = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    by_active = ActiveJobs()
    by_kind = JobsByKind()


# --- broadcasts (chalicelib/runtime/broadcasts.py owns these) ---------------------------------


class Broadcast(Model):
    """A one-off campaign to a saved segment; its sends run as the paged job `job_id`, its
    messages as the funnel `broadcast-{name}` version `funnel_version`."""

    class Meta(_Meta):
        table_name = "broadcasts"

    group = UnicodeAttribute(hash_key=True, default="broadcast")  # one partition: list by Query
    name = UnicodeAttribute(range_key=True)
    definition = JSONAttribute()  # as validated (chalicelib.core.broadcast.Broadcast)
    checksum = UnicodeAttribute()  # of the definition: the same PUT again changes nothing
    segment = UnicodeAttribute()
    at = UTCDateTimeAttribute(null=True)  # business time it starts; None: at once
    funnel_version = NumberAttribute()
    job_id = UnicodeAttribute()
    status = UnicodeAttribute(null=True)  # set when the job ended: done | failed | cancelled
    counts = JSONAttribute(null=True)  # the job's final counts (jobs expire after a month)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    lock = VersionAttribute()


ALL_MODELS: tuple[type[Model], ...] = (
    Contact,
    Identity,
    Event,
    Funnel,
    Enrollment,
    Message,
    MessageBody,
    Counter,
    Receipt,
    Wakeup,
    ContactStats,
    SavedSegment,
    DateMark,
    PagedJob,
    Broadcast,
)
LOCAL_ONLY_MODELS: tuple[type[Model], ...] = (Wakeup,)
TTL_ATTRIBUTES = {Event: "expires_at", Receipt: "expires_at", PagedJob: "expires_at"}
