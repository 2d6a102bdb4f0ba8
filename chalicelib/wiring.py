"""The composition root: `bootstrap()` builds the application's parts from settings, and only
entry points (app.py, the API blueprints, the jobs, the CLI and the time-travel stack) import
this module; everything below receives what it needs as arguments.

Nothing is created at import time, and each part is built on first use and reused for the
life of the process (a Lambda container): a route that only appends to the log never loads the
funnel runtime. Tests and the time-travel stack `install()` an App built with a controllable
clock; the entry points then use it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.config import Settings, current
from chalicelib.long_lived import container_lifetime
from chalicelib.storage.binding import bind

if TYPE_CHECKING:  # the adapters are imported when first built: a route pays only for its own
    from pynamodb.connection import Connection

    from chalicelib.analytics.fold import Ledger
    from chalicelib.analytics.sink import AnalyticsSink
    from chalicelib.analytics.step_tallies import StepTallies
    from chalicelib.channels.base import Channel
    from chalicelib.eventlog.local import LocalStreams
    from chalicelib.runtime.clock import Clock
    from chalicelib.runtime.dispatch import Dispatcher
    from chalicelib.runtime.funnel_store import FunnelStore
    from chalicelib.runtime.observer import RuntimeObserver
    from chalicelib.runtime.runner import Runtime
    from chalicelib.runtime.scheduler import Scheduler
    from chalicelib.worker.handler import Worker

Built = TypeVar("Built")


def _container_lifetime(build: Callable[[App], Built]) -> Callable[[App], Built]:
    """A part built once and kept for the container's life, out of the collector's way."""

    @functools.wraps(build)
    def built(application: App) -> Built:
        with container_lifetime(build.__name__):
            return build(application)

    return built


@dataclass
class App:
    """Everything the entry points use, built from settings on first use."""

    settings: Settings
    clock: Clock
    funnel_index_ttl: float = 30.0
    channels_override: dict[str, Channel] | None = None
    scheduler_override: Scheduler | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    @property
    def connection(self) -> Connection:
        """The connection the models share (transactions need it too)."""
        from chalicelib.storage import binding

        return binding.connection()

    @cached_property
    def funnels(self) -> FunnelStore:
        from chalicelib.runtime.funnel_store import FunnelStore

        return FunnelStore(self.connection, index_ttl_seconds=self.funnel_index_ttl)

    @cached_property
    def scheduler(self) -> Scheduler:
        if self.scheduler_override is not None:
            return self.scheduler_override
        settings = self.settings
        if settings.scheduler == "eventbridge":
            from chalicelib.runtime.eventbridge import EventBridgeScheduler

            return EventBridgeScheduler(
                _aws_client("scheduler", settings),
                settings.schedule_group,
                settings.step_runner_arn,
                settings.scheduler_role_arn,
                settings.dead_letter_queue_arn,
            )
        from chalicelib.runtime.local_scheduler import LocalScheduler

        return LocalScheduler()

    @cached_property
    def dispatcher(self) -> Dispatcher:
        from chalicelib.channels.registry import channels_for
        from chalicelib.runtime.dispatch import Dispatcher

        channels = self.channels_override
        return Dispatcher(
            channels if channels is not None else channels_for(self.settings),
            self.settings,
            self.clock,
            observer=self.observer,
            connection=self.connection,
        )

    @cached_property
    def observer(self) -> RuntimeObserver:
        """Who counts committed steps and failed sends (analytics, in their transactions)."""
        from chalicelib.analytics.observer import AnalyticsObserver

        return AnalyticsObserver(self.ledger)

    @cached_property
    def sqs(self) -> Any:
        """The sweeper reads the wake-up dead-letter queue with it (jobs.replay_dead_wakeups)."""
        return _aws_client("sqs", self.settings)

    @cached_property
    def ledger(self) -> Ledger:
        """Where figures go before the worker folds them into the counters (the event log)."""
        from chalicelib.analytics.fold import Ledger

        return Ledger()

    @cached_property
    def analytics(self) -> AnalyticsSink:
        """Analytics hears every event the worker handles (orders, cohorts, segments)."""
        from chalicelib.analytics.sink import AnalyticsSink

        window = timedelta(days=self.settings.attribution_window_days)
        return AnalyticsSink(window, self.now, lambda: self.connection)

    @cached_property
    @_container_lifetime
    def runtime(self) -> Runtime:
        from chalicelib.core.funnel import Cap
        from chalicelib.runtime.dispatch import engine_links
        from chalicelib.runtime.runner import Runtime

        cap = self.settings.frequency_cap
        return Runtime(
            self.funnels,
            self.scheduler,
            self.dispatcher,
            self.connection,
            self.clock,
            self.observer,
            engine_links(self.settings),
            self.settings.phone_region,
            workspace_cap=Cap(max=cap[0], per=cap[1]) if cap else None,
        )

    @cached_property
    @_container_lifetime
    def worker(self) -> Worker:
        """The event log's stream worker (the `worker` Lambda; polled locally)."""
        from chalicelib.tracking import opt_in
        from chalicelib.worker.handler import Worker

        def confirm_numbers(contact_id: str, channels: Set[str], now: datetime) -> None:
            opt_in.request(contact_id, channels, now, self.settings, self.dispatcher)

        return Worker(
            self.runtime,
            self.analytics,
            self.ledger,
            self.now,
            timedelta(days=self.settings.event_retention_days),
            self.settings.phone_region,
            confirm_numbers,
        )

    @cached_property
    def step_tallies(self) -> StepTallies:
        """The enrollments' stream worker (the `step_tallies` Lambda; polled locally)."""
        from chalicelib.analytics.step_tallies import StepTallies

        return StepTallies(self.ledger, self.now)

    @cached_property
    def streams(self) -> LocalStreams:
        """DynamoDB Local's streams, polled into the handlers the Lambdas run (make run, tests):
        the enrollments' first (their tallies go to the log), then the log's."""
        from chalicelib.eventlog.local import LocalStreams
        from chalicelib.storage.models import Enrollment, Event
        from chalicelib.storage.tables import dynamodb_client, streams_client

        handlers = {
            str(Enrollment.Meta.table_name): self.handle_enrollments,
            str(Event.Meta.table_name): self.handle_events,
        }
        return LocalStreams(dynamodb_client(self.settings), streams_client(self.settings), handlers)

    def handle_enrollments(self, event: Any, context: Any = None) -> dict[str, Any]:
        """One batch of the enrollments' stream: the committed steps' figures, as one tally."""
        return self.step_tallies.handle(event, context)

    def handle_events(self, event: Any, context: Any = None) -> dict[str, Any]:
        """One batch of the log's stream. The metrics are flushed here as well as by app.py's
        middleware: the local poller calls this directly, with no Lambda invocation around it."""
        from chalicelib import observability

        try:
            return self.worker.handle(event, context)
        finally:
            observability.metrics.flush()

    def drain(self) -> int:
        """Run the stream workers until every record is handled (local and tests): both
        streams, in turn, until neither has any left."""
        return self.streams.drain()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    channels: dict[str, Channel] | None = None,
    scheduler: Scheduler | None = None,
    funnel_index_ttl: float = 30.0,
) -> App:
    """Build the application (the models are bound to the settings' tables)."""
    settings = settings or current()
    bind(settings)
    if clock is None:
        from chalicelib.runtime.clock import clock_for

        clock = clock_for(settings.time_scale, settings.clock_epoch, settings.clock_start)
    return App(settings, clock, funnel_index_ttl, channels, scheduler)


_installed: App | None = None


def app() -> App:
    """The application of this process: the installed one, else built from the environment."""
    global _installed
    if _installed is None:
        _installed = bootstrap()
    return _installed


def install(application: App) -> App:
    """Make `application` the one the entry points use (tests, the time-travel stack)."""
    global _installed
    bind(application.settings)
    _installed = application
    return application


def reset() -> None:
    """Forget the settings and the application (tests that change the environment)."""
    global _installed
    current.cache_clear()
    _installed = None


# Shorthands for the entry points.
def storage() -> Settings:
    """The settings, with the models bound to their tables."""
    return app().settings


def clock() -> Clock:
    return app().clock


def funnel_store() -> FunnelStore:
    return app().funnels


def runtime() -> Runtime:
    return app().runtime


def _aws_client(service: str, settings: Settings) -> Any:
    """A client on the DynamoDB connection's botocore session (a service it knows: SERVICES in
    storage/connection.py): a session of its own would register botocore's handlers and parse
    its endpoint table again, ~240M instructions of the worker's cold start (bench_startup.py).
    Against DynamoDB Local that session holds the emulator's made-up credentials: a new one."""
    import botocore.session  # botocore ships with PynamoDB; boto3 is not needed in the Lambda

    from chalicelib.storage import binding

    shared = not settings.dynamodb_endpoint
    session = binding.connection().session if shared else botocore.session.get_session()
    return session.create_client(service, region_name=settings.region)
