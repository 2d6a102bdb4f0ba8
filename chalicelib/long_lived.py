"""Building what lives as long as the container, out of the cyclic garbage collector's way.

A cold start builds large graphs once: the worker's funnel runtime (the language's ~45
dataclasses, the engine, the dispatcher, analytics), the DynamoDB client (botocore's endpoint
table and service model, ~100,000 objects). The collector would walk them over and over while
they are made, a full collection among them included (~60 ms of the worker's cold start;
bench/bench_startup.py).
So the collector is paused while one is built, and what exists then is frozen out of later
collections, as app.py does for its own import.

Once per process for each graph: tests build many applications and clients, and a freeze keeps
whatever garbage exists at that moment for good.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_built: set[str] = set()


@contextmanager
def container_lifetime(graph: str) -> Iterator[None]:
    """Build `graph` with the collector paused, then freeze (the first time only)."""
    if graph in _built or not gc.isenabled():  # built already, or within an outer build
        yield
        return
    _built.add(graph)
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
