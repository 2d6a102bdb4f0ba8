"""Paged jobs over a synthetic shop on DynamoDB Local: RFM scoring, date triggers and a saved
segment's backfill over 100,000 contacts (written in BatchWriteItem requests), each run to its
end invocation after invocation, as the `job_runner` tick would.

Per job it prints: contacts/s, DynamoDB units per contact (ReturnConsumedCapacity), the
invocations it took at this bench's budget, the invocations it would need at Lambda's
15-minute limit, the projected time for 1M contacts, the size of the state the job carries
between pages and the process's peak memory (neither grows with the contacts).

    .venv/bin/python bench/bench_jobs.py [--contacts 100000] [--budget 60]

DynamoDB Local on a laptop answers in about a millisecond and its Python client is the
bottleneck; on AWS every call is a network round trip, so treat the rates as an upper bound
for one invocation and the projections as a lower bound for time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import job_population
from bench_runtime import CapacityMeter

from autofunnel import dynamodb_local
from autofunnel.demo_seed import SHOE_BROWSERS
from chalicelib import jobs, wiring
from chalicelib.paging.budget import Budget
from chalicelib.storage.tables import create_tables

LAMBDA_LIMIT = 15 * 60  # seconds
LAMBDA_BUDGET = LAMBDA_LIMIT - max(10.0, LAMBDA_LIMIT * 0.1)  # Budget.for_lambda's reserve
PROJECTED = 1_000_000


def run_job(kind: str, params: dict[str, Any] | None, budget: float) -> tuple[dict[str, Any], int]:
    paged = jobs.paged_jobs()
    job, _ = paged.start(kind, wiring.clock()(), params)
    invocations = 0
    while job.status in ("queued", "running"):
        after = paged.run(job.job_id, Budget(budget))
        assert after is not None and not after.error, after.error if after else None
        job, invocations = after, invocations + 1
    return {**job.attribute_values, "state_bytes": len(json.dumps(job.state))}, invocations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per invocation")
    args = parser.parse_args()
    emulator = dynamodb_local.start()
    try:
        os.environ.update(
            AUTOFUNNEL_DYNAMODB_ENDPOINT=emulator.endpoint,
            AUTOFUNNEL_TABLE_PREFIX="bench-jobs",
            AUTOFUNNEL_STAGE="bench",
        )
        wiring.reset()
        create_tables(wiring.storage())
        now = wiring.clock()()
        began = time.perf_counter()
        population = job_population.write(args.contacts, now)
        took = time.perf_counter() - began
        print(
            f"Population: {population.contacts:,} contacts ({population.buyers:,} buyers,"
            f" {population.due:,} with a birthday today, {population.browsers:,} shoe browsers)"
            f" written in batches in {took:.0f} s",
            flush=True,
        )
        wiring.funnel_store().publish(job_population.BIRTHDAY_FUNNEL, "birthday.yaml", now)
        from chalicelib.analytics import segment_store
        from chalicelib.core.segments import parse_segment

        definition = parse_segment("shoe_browsers", SHOE_BROWSERS)
        segment_store.save(definition, SHOE_BROWSERS["condition"], now)
        meter = CapacityMeter()
        meter.install()
        rows = []
        for kind, params, contacts, share in (
            (jobs.RFM, None, population.buyers, population.buyers / population.contacts),
            (jobs.DATE_TRIGGERS, None, population.due, population.due / population.contacts),
            (jobs.SEGMENT_BACKFILL, {"segment": "shoe_browsers"}, population.contacts, 1.0),
        ):
            began = time.perf_counter()
            job, invocations = run_job(kind, params, args.budget)
            seconds = time.perf_counter() - began
            units, calls = meter.take()
            job["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows.append((kind, contacts, share, seconds, invocations, units, calls, job))
            print(f"  {kind}: done in {seconds:.0f} s, counts {job['counts']}", flush=True)
    finally:
        emulator.stop()
    report(args, rows)


def report(args: argparse.Namespace, rows: list[tuple[Any, ...]]) -> None:
    print()
    print(
        f"Paged jobs on DynamoDB Local, {args.contacts:,} contacts,"
        f" {args.budget:g} s per invocation"
    )
    header = (
        f"  {'job':<18}{'contacts':>10}{'contacts/s':>12}{'units/contact':>15}"
        f"{'calls/contact':>15}{'invocations':>13}{'at 15 min':>11}{'1M contacts':>13}"
        f"{'(at 15 min)':>13}"
        f"{'state':>10}{'peak RSS':>10}"
    )
    print(header)
    for kind, contacts, share, seconds, invocations, units, calls, job in rows:
        rate = contacts / seconds if seconds else float("inf")
        at_million = PROJECTED * share / rate
        print(
            f"  {kind:<18}{contacts:>10,}{rate:>12.0f}{units / max(1, contacts):>15.2f}"
            f"{calls / max(1, contacts):>15.2f}{invocations:>13}"
            f"{math.ceil(seconds / LAMBDA_BUDGET):>11}{_duration(at_million):>13}"
            f"{math.ceil(at_million / LAMBDA_BUDGET):>13}"
            f"{_size(job['state_bytes']):>10}{job['peak_mb']:>7.0f} MB"
        )
    print(
        f"  (at 15 min: invocations of {LAMBDA_BUDGET:.0f} s this run would need on Lambda;"
        f" 1M contacts: projected time at the same rate, with the same share of buyers and"
        f" birthdays, and the 15-minute invocations it takes; state: what the job carries"
        f" between pages; peak RSS: this process so far)"
    )


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def _size(count: int) -> str:
    return f"{count / 1024:.1f} KB" if count >= 1024 else f"{count} B"


if __name__ == "__main__":
    main()
