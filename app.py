"""The Chalice app: routes come from blueprints in chalicelib.api; Lambda entry points live here."""

# ruff: noqa: E402 - the imports run with the garbage collector paused
import gc

# Importing the app creates some 65,000 objects that live as long as the container (modules,
# classes, functions), and the cyclic collector would walk them over and over while they are
# created and again at each collection after (the first request's botocore tables trigger many):
# paused while the app is imported, then frozen out of later collections (a quarter of a cold
# start's CPU; bench/bench_startup.py).
gc.disable()

from chalicelib import compiled_sources

compiled_sources.install()  # the code dataclasses and typing compile, compiled at build time

import os
import time
from typing import Any

from chalice import Chalice, Rate

from chalicelib import jobs, observability, wiring
from chalicelib.api import (
    admin,
    admin_funnels,
    admin_jobs,
    broadcasts,
    dashboard,
    deeplinks,
    guard,
    health,
    held,
    ingest,
    messenger_webhooks,
    onsite,
    preferences,
    preview,
    provider_webhooks,
    segments,
    shop_webhooks,
    site,
    stats,
    tracking,
)
from chalicelib.config import enrollments_stream_arn, events_stream_arn
from chalicelib.eventlog import stream

app = Chalice(app_name="autofunnel")
if "AWS_LAMBDA_FUNCTION_NAME" in os.environ:  # JSON lines for CloudWatch; plain text locally
    observability.configure_logging()
app.register_blueprint(guard.blueprint)
app.register_blueprint(health.blueprint)
app.register_blueprint(admin.blueprint)
app.register_blueprint(admin_funnels.blueprint)
app.register_blueprint(admin_jobs.blueprint)
app.register_blueprint(broadcasts.blueprint)
app.register_blueprint(tracking.blueprint)
app.register_blueprint(provider_webhooks.blueprint)
app.register_blueprint(ingest.blueprint)
app.register_blueprint(site.blueprint)
app.register_blueprint(stats.blueprint)
app.register_blueprint(segments.blueprint)
app.register_blueprint(dashboard.blueprint)
app.register_blueprint(shop_webhooks.blueprint)
app.register_blueprint(messenger_webhooks.blueprint)
app.register_blueprint(deeplinks.blueprint)
app.register_blueprint(onsite.blueprint)
app.register_blueprint(preview.blueprint)
app.register_blueprint(preferences.blueprint)
app.register_blueprint(held.blueprint)


@app.middleware("all")
def observe(event: Any, get_response: Any) -> Any:
    """Every invocation logs under its correlation id and flushes its metrics at the end."""
    started = time.perf_counter()
    with observability.correlate(observability.correlation_of(event)):
        try:
            response = get_response(event)
        finally:
            observability.metrics.flush()
        observability.invocation_done(event, response, time.perf_counter() - started)
        return response


@app.lambda_function(name="step_runner")
def step_runner(event: dict[str, Any], context: Any) -> dict[str, str]:
    """EventBridge Scheduler wakes an enrollment here (the schedule's Input is the wake-up)."""
    wiring.runtime().handle_wakeup(event)
    return {"status": "done"}


# The event log's stream: routes append, this worker does the rest (chalicelib/worker). Retries,
# bisect-on-error, the failure queue and partial batch answers are set on the event source
# mapping after deploy (`autofunnel deploy`): Chalice's decorator has no such options.
@app.on_dynamodb_record(
    stream_arn=events_stream_arn(),
    batch_size=stream.BATCH_SIZE,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=stream.BATCHING_WINDOW_SECONDS,
    name="worker",
)
def worker(event: Any) -> dict[str, Any]:
    return wiring.app().handle_events(event.to_dict(), event.context)


# The enrollments' stream: each committed step's figures, written on its enrollment, summed into
# one tally per batch (chalicelib/analytics/step_tallies.py); configured after deploy like
# `worker`.
@app.on_dynamodb_record(
    stream_arn=enrollments_stream_arn(),
    batch_size=stream.BATCH_SIZE,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=stream.BATCHING_WINDOW_SECONDS,
    name="step_tallies",
)
def step_tallies(event: Any) -> dict[str, Any]:
    return wiring.app().handle_enrollments(event.to_dict())


# Periodic jobs (chalicelib/jobs.py; `make run` runs the same ones locally): each schedule starts
# its period's paged job and does what its invocation's time allows; `job_runner` continues
# every unfinished job (the rest of a long one, one started by an admin route) every minute.
def _every(kind: str) -> Rate:
    return Rate(next(p.minutes for p in jobs.PERIODIC if p.kind == kind), unit=Rate.MINUTES)


@app.schedule(_every(jobs.DATE_TRIGGERS), name="date_triggers")
def date_triggers(event: Any) -> dict[str, Any]:
    return jobs.run_periodic(jobs.DATE_TRIGGERS, jobs.lambda_budget(event.context))


@app.schedule(_every(jobs.SWEEPER), name="sweeper")
def sweeper(event: Any) -> dict[str, Any]:
    return jobs.run_periodic(jobs.SWEEPER, jobs.lambda_budget(event.context))


@app.schedule(_every(jobs.RFM), name="rfm_scoring")
def rfm_scoring(event: Any) -> dict[str, Any]:
    return jobs.run_periodic(jobs.RFM, jobs.lambda_budget(event.context))


@app.schedule(_every(jobs.SEGMENT_RECHECKS), name="segment_rechecks")
def segment_rechecks(event: Any) -> dict[str, Any]:
    return jobs.run_periodic(jobs.SEGMENT_RECHECKS, jobs.lambda_budget(event.context))


@app.schedule(Rate(jobs.TICK_MINUTES, unit=Rate.MINUTES), name="job_runner")
def job_runner(event: Any) -> dict[str, Any]:
    return jobs.continue_open(jobs.lambda_budget(event.context))


gc.freeze()  # everything above lives as long as the container: out of the collector's way
gc.enable()
