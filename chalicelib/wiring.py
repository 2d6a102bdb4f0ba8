"""The composition root: builds the adapters from settings, once per process (Lambda container)."""

from __future__ import annotations

from functools import lru_cache

from chalicelib.config import Settings, current
from chalicelib.events import EventSink, RecordingSink
from chalicelib.statuses import RecordingStatusSink, StatusSink
from chalicelib.storage.binding import bind


@lru_cache(maxsize=1)
def storage() -> Settings:
    """Bind the models to this stage's tables on first use (not at import: cold start)."""
    settings = current()
    bind(settings)
    return settings


def reset() -> None:
    """Forget cached settings and adapters (tests that change the environment)."""
    current.cache_clear()
    storage.cache_clear()
    event_sink.cache_clear()
    status_sink.cache_clear()


@lru_cache(maxsize=1)
def event_sink() -> EventSink:
    """Where stored events go next (the funnel runtime, once it is wired)."""
    return RecordingSink()


@lru_cache(maxsize=1)
def status_sink() -> StatusSink:
    """Where message status updates go next (the funnel runtime, once it is wired)."""
    return RecordingStatusSink()
