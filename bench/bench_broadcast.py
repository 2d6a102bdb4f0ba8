"""A broadcast's send on DynamoDB Local: the paged `broadcast` job over a segment of 5,000
contacts (written in BatchWriteItem requests), against entering the same kind of members one by
one through the funnel runtime (what the job would do without its batch entry), on a sample.

Per way it prints: members/s, DynamoDB calls and units per member (ReturnConsumedCapacity),
and the 15-minute Lambda invocations a 1M-member broadcast would need at that rate.

    .venv/bin/python bench/bench_broadcast.py [--members 5000] [--sample 300]

The members live in a time zone where it is noon now (no quiet hours); every message goes to
the outbox (no provider keys), so the figures are DynamoDB's and this process's, not a
provider's. On AWS each call is a network round trip that the job's 8 threads overlap.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_runtime import CapacityMeter

from autofunnel import dynamodb_local
from chalicelib import jobs, wiring
from chalicelib.analytics import segment_store
from chalicelib.analytics.contact_stats import CONTACT_SHARDS, shard
from chalicelib.core.segments import parse_segment
from chalicelib.paging.budget import Budget
from chalicelib.storage.models import Contact, ContactStats, Identity
from chalicelib.storage.tables import create_tables

LAMBDA_BUDGET = 15 * 60 - 90  # Budget.for_lambda's share of a 15-minute invocation
SEGMENT = {"condition": {"attributes": {"vip": True}}}


def noon_zone(now: datetime) -> str:
    """A zone where it is about noon now (POSIX Etc/GMT signs are inverted)."""
    offset = 12 - now.astimezone(UTC).hour
    offset = offset - 24 if offset > 12 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def write_members(count: int, prefix: str, segment: str, now: datetime) -> list[str]:
    ids = [f"{prefix}{n:06d}" for n in range(count)]
    zone = noon_zone(now)
    with (
        Contact.batch_write() as contacts,
        Identity.batch_write() as identities,
        ContactStats.batch_write() as stats,
    ):
        for cid in ids:
            contacts.save(Contact(contact_id=cid, attributes={"first_name": cid}, timezone=zone))
            identities.save(
                Identity(
                    f"email:{cid}@example.com",
                    contact_id=cid,
                    kind="email",
                    value=f"{cid}@example.com",
                    created_at=now,
                )
            )
            stats.save(
                ContactStats(
                    cid,
                    shard=shard(cid, "c", CONTACT_SHARDS),
                    first_seen=now - timedelta(days=30),
                    segments={segment},
                )
            )
    return ids


def sale(segment: str) -> dict[str, object]:
    return {
        "segment": segment,
        "channel": "email",
        "content": {"email": {"subject": "{{ contact.first_name }}, 30% off", "text": "Sale"}},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--sample", type=int, default=300, help="members entered one by one")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per invocation")
    args = parser.parse_args()
    emulator = dynamodb_local.start()
    try:
        os.environ.update(
            AUTOFUNNEL_DYNAMODB_ENDPOINT=emulator.endpoint,
            AUTOFUNNEL_TABLE_PREFIX="bench-broadcast",
            AUTOFUNNEL_STAGE="bench",
        )
        wiring.reset()
        create_tables(wiring.storage())
        now = wiring.clock()()
        for name in ("vips", "sample"):
            segment_store.save(parse_segment(name, SEGMENT), SEGMENT["condition"], now)
        began = time.perf_counter()
        write_members(args.members, "m", "vips", now)
        sample = write_members(args.sample, "s", "sample", now)
        print(f"Members written in batches in {time.perf_counter() - began:.0f} s", flush=True)
        broadcasts = jobs.broadcasts()
        meter = CapacityMeter()
        meter.install()
        rows = []

        # Before: each member entered through the runtime on its own (the funnel's API entry).
        broadcasts.save("one_by_one", {**sale("sample"), "at": (now + timedelta(days=1))})
        meter.take()
        runtime = wiring.runtime()
        began = time.perf_counter()
        for cid in sample:
            runtime.enroll("broadcast-one_by_one", cid)
        rows.append(("one by one", len(sample), time.perf_counter() - began, *meter.take()))

        # After: the broadcast job, a page of members entered together.
        saved, _ = broadcasts.save("spring", sale("vips"))
        meter.take()
        paged = jobs.paged_jobs()
        began = time.perf_counter()
        job = paged.store.get(saved["job"]["id"])
        while job is not None and job.status in ("queued", "running"):
            job = paged.run(job.job_id, Budget(args.budget))
        seconds = time.perf_counter() - began
        assert job is not None and job.status == "done", job and job.error
        print(f"  the job: {dict(job.counts)} in {seconds:.0f} s", flush=True)
        rows.append(("broadcast job", args.members, seconds, *meter.take()))
    finally:
        emulator.stop()
    print()
    print(f"A broadcast on DynamoDB Local ({args.members:,} members; one by one: a sample)")
    print(f"  {'way':<16}{'members':>9}{'members/s':>11}{'calls/member':>14}{'units/member':>14}"
          f"{'1M: invocations':>17}")  # fmt: skip
    for way, members, seconds, units, calls in rows:
        rate = members / seconds
        print(
            f"  {way:<16}{members:>9,}{rate:>11.1f}{calls / members:>14.2f}"
            f"{units / members:>14.2f}{math.ceil(1_000_000 / rate / LAMBDA_BUDGET):>17}"
        )


if __name__ == "__main__":
    main()
