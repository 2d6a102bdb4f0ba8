"""The composition root: builds the adapters from settings, once per process (Lambda container).

Nothing is created at import time: each factory runs on first use, and its result is reused by
every later request the container serves.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings, current
from chalicelib.storage.binding import bind

if TYPE_CHECKING:  # the adapters are imported by their factories: a route pays only for its own
    from pynamodb.connection import Connection

    from chalicelib.events import EventSink
    from chalicelib.runtime.clock import Clock
    from chalicelib.runtime.dispatch import Dispatcher
    from chalicelib.runtime.funnel_store import FunnelStore
    from chalicelib.runtime.observer import RuntimeObserver
    from chalicelib.runtime.runner import Runtime
    from chalicelib.runtime.scheduler import Scheduler
    from chalicelib.statuses import StatusSink


@lru_cache(maxsize=1)
def storage() -> Settings:
    """Bind the models to this stage's tables on first use (not at import: cold start)."""
    settings = current()
    bind(settings)
    return settings


@lru_cache(maxsize=1)
def clock() -> Clock:
    from chalicelib.runtime.clock import clock_for

    settings = current()
    return clock_for(settings.time_scale, settings.clock_epoch, settings.clock_start)


def dynamodb_connection() -> Connection:
    """For transactions (TransactWrite needs a connection): the one the models share."""
    from chalicelib.storage import binding

    storage()
    return binding.connection()


@lru_cache(maxsize=1)
def funnel_store() -> FunnelStore:
    from chalicelib.runtime.funnel_store import FunnelStore

    storage()
    return FunnelStore(dynamodb_connection())


@lru_cache(maxsize=1)
def scheduler() -> Scheduler:
    settings = storage()
    if settings.scheduler == "eventbridge":
        from chalicelib.runtime.eventbridge import EventBridgeScheduler

        return EventBridgeScheduler(
            _aws_client("scheduler"),
            settings.schedule_group,
            settings.step_runner_arn,
            settings.scheduler_role_arn,
            settings.dead_letter_queue_arn,
        )
    from chalicelib.runtime.local_scheduler import LocalScheduler

    return LocalScheduler()


@lru_cache(maxsize=1)
def dispatcher() -> Dispatcher:
    from chalicelib.channels.registry import channels_for
    from chalicelib.runtime.dispatch import Dispatcher

    settings = storage()
    return Dispatcher(channels_for(settings), settings, clock())


@lru_cache(maxsize=1)
def observer() -> RuntimeObserver:
    """Who hears about committed steps and message statuses (analytics)."""
    from chalicelib.analytics.observer import AnalyticsObserver

    storage()
    return AnalyticsObserver()


@lru_cache(maxsize=1)
def analytics_sink() -> EventSink:
    """Analytics hears every stored event (orders, cohorts, segments) before the funnels."""
    from chalicelib.analytics.sink import AnalyticsSink

    settings = storage()
    return AnalyticsSink(
        timedelta(days=settings.attribution_window_days),
        lambda: clock()(),
        dynamodb_connection(),
    )


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    from chalicelib.core.funnel import Cap
    from chalicelib.runtime.dispatch import engine_links
    from chalicelib.runtime.runner import Runtime

    settings = storage()
    cap = settings.frequency_cap
    return Runtime(
        funnel_store(),
        scheduler(),
        dispatcher(),
        dynamodb_connection(),
        clock(),
        observer(),
        engine_links(settings),
        workspace_cap=Cap(max=cap[0], per=cap[1]) if cap else None,
    )


def event_sink() -> EventSink:
    """Where stored events go next: analytics, then the funnel runtime."""
    from chalicelib.analytics.sink import Tee

    return Tee(analytics_sink(), runtime())


def status_sink() -> StatusSink:
    """Where message status updates go next: the enrollment that sent the message."""
    from chalicelib.runtime.runner import StatusFeed

    return StatusFeed(runtime())


def _aws_client(service: str) -> Any:
    import botocore.session  # botocore ships with PynamoDB; boto3 is not needed in the Lambda

    return botocore.session.get_session().create_client(service, region_name=current().region)


def reset() -> None:
    """Forget cached settings and adapters (tests that change the environment)."""
    current.cache_clear()
    factories = (storage, clock, funnel_store, scheduler, dispatcher)
    for factory in (*factories, observer, analytics_sink, runtime):
        if hasattr(factory, "cache_clear"):  # a test may have replaced one
            factory.cache_clear()
