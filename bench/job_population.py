"""A synthetic shop population for the job benchmarks, written straight into the tables in
BatchWriteItem requests (25 items each): the ingest path would take hours for 100,000 contacts.

Every contact has a profile, analytics' stats row (on the `by_shard` index) and a birthday mark;
`buyers` of them have orders (the `by_buyer` index, what RFM reads), `due` of them have their
birthday today and an email address (date triggers enroll and email them), and `browsers` of
them viewed shoes twice this week (the demo's saved segment `shoe_browsers`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.analytics.contact_stats import BUYER_SHARDS, CONTACT_SHARDS, shard
from chalicelib.eventlog.entry import contact_subject
from chalicelib.storage.models import Contact, ContactStats, DateMark, Event, Identity

BIRTHDAY_FUNNEL = """
name: birthday
trigger: {date: {attribute: birthday, annual: true}}
reentry: {policy: once_per_period, period: 300d}
templates:
  gift: {email: {subject: "Happy birthday, {{ contact.first_name }}!", text: "A gift inside"}}
steps:
  - {id: gift, kind: send, channel: email, template: gift}
"""


@dataclass(frozen=True)
class Population:
    contacts: int
    buyers: int
    due: int
    browsers: int


def contact_id(n: int) -> str:
    return f"c{n:07d}"


def write(size: int, now: datetime, seed: int = 20261123) -> Population:
    """`size` contacts: 60% buyers, 3% with their birthday today, 10% shoe browsers."""
    rng = random.Random(seed)
    buyers = due = browsers = 0
    with (
        Contact.batch_write() as contacts,
        ContactStats.batch_write() as stats,
        DateMark.batch_write() as marks,
        Identity.batch_write() as identities,
        Event.batch_write() as events,
    ):
        for n in range(size):
            cid = contact_id(n)
            is_due = rng.random() < 0.03
            birthday = _birthday(rng, now, is_due)
            contacts.save(
                Contact(
                    contact_id=cid,
                    attributes={"first_name": f"C{n}", "birthday": birthday},
                    first_seen=now - timedelta(days=400),
                )
            )
            row = ContactStats(
                cid,
                shard=shard(cid, "c", CONTACT_SHARDS),
                first_seen=now - timedelta(days=400),
                cohort="google",
            )
            if rng.random() < 0.6:
                buyers += 1
                row.orders = rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 9, 14])
                row.revenue = round(row.orders * rng.choice([19.9, 25, 49, 79.9, 120, 240]), 2)
                row.last_order_at = now - timedelta(days=rng.randint(0, 720), hours=3)
                row.buyer_shard = shard(cid, "b", BUYER_SHARDS)
            stats.save(row)
            marks.save(DateMark(f"birthday#{birthday[5:]}", cid))
            if is_due:
                due += 1
                identities.save(
                    Identity(
                        f"email:{cid}@example.com",
                        contact_id=cid,
                        kind="email",
                        value=f"{cid}@example.com",
                        created_at=now - timedelta(days=400),
                    )
                )
            if rng.random() < 0.1:
                browsers += 1
                for k in range(2):
                    events.save(_viewed(cid, now - timedelta(days=1, hours=k)))
    return Population(size, buyers, due, browsers)


def _birthday(rng: random.Random, now: datetime, today: bool) -> str:
    if today:
        return f"{rng.randint(1960, 2004)}-{now:%m-%d}"
    day = now + timedelta(days=rng.randint(3, 360))  # never within a day of today
    return f"{rng.randint(1960, 2004)}-{day:%m-%d}"


def _viewed(cid: str, at: datetime) -> Event:
    return Event(
        contact_subject(cid),
        f"view-{cid}-{at.timestamp():.0f}",
        type="track",
        name="product_viewed",
        properties={"category": "shoes"},
        timestamp=at,
        received_at=at,
    )
