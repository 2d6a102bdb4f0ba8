"""Every cold start of the API imports the app before its first request, and most requests only
append to the event log: importing the app must not load the funnel language, the channels'
SDKs or the dispatcher. Each loads in the route or worker that uses it (the figures:
`bench/bench_startup.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Libraries only a route or a worker needs, never `import app`
HEAVY_LIBRARIES = {
    "pydantic",
    "pydantic_core",
    "liquid",
    "babel",
    "yaml",
    "twilio",
    "sendgrid",
    "cryptography",
    "phonenumbers",
    "jwt",
    "requests",
    "boto3",
}
# The app's own modules that pull in a large graph (or build models) when imported
HEAVY_MODULES = {
    "chalicelib.core.funnel",
    "chalicelib.core.engine",
    "chalicelib.runtime.dispatch",
    "chalicelib.runtime.runner",
    "chalicelib.channels.delivery",
    "chalicelib.worker.handler",
    "chalicelib.analytics.sink",
}
# What only some routes and jobs need (admin lookups and erasure, funnel management, link and
# page tokens, the paged jobs): loaded there, not by every cold start that answers a /v1/track
ROUTE_HELPERS = {
    "chalicelib.channels.reachability",
    "chalicelib.core.problems",
    "chalicelib.identity.erase",
    "chalicelib.identity.store",
    "chalicelib.paging.kinds",
    "chalicelib.paging.runner",
    "chalicelib.paging.service",
    "chalicelib.runtime.funnel_store",
    "chalicelib.runtime.views",
    "chalicelib.storage.contacts",
    "chalicelib.storage.messages",
    "chalicelib.tracking.links",
    "chalicelib.tracking.page_links",
    "chalicelib.tracking.tokens",
    "chalicelib.webhooks.deeplinks",
}


def test_importing_the_app_loads_no_heavy_library() -> None:
    code = "import sys\nimport app\nprint('\\n'.join(sorted(sys.modules)))"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = set(done.stdout.split())
    heavy = sorted(
        name
        for name in loaded
        if name.split(".")[0] in HEAVY_LIBRARIES or name in HEAVY_MODULES | ROUTE_HELPERS
    )
    assert heavy == [], f"import app loads {heavy}: import them where they are used"


def test_the_workers_graph_and_the_dynamodb_client_are_built_out_of_the_collectors_way() -> None:
    """The worker Lambda's first batch builds the funnel runtime (the language, the engine,
    the dispatcher), the first request the DynamoDB client (botocore's endpoint table): each is
    frozen out of the cyclic collector once built, the collector left on; and the worker's
    graph goes without the phone-number library that only a phone number needs, without the
    senders' machinery (channels.delivery) and the links' signing that only a send needs, and
    without the paged jobs' machinery."""
    code = """
import gc, sys
import app
from chalicelib import wiring
from chalicelib.storage import binding
frozen = gc.get_freeze_count()
wiring.app().worker
print(gc.get_freeze_count() > frozen, gc.isenabled(), "phonenumbers" in sys.modules)
print("chalicelib.channels.delivery" in sys.modules, "chalicelib.tracking.tokens" in sys.modules)
print(any(name.startswith("chalicelib.paging") for name in sys.modules))
frozen = gc.get_freeze_count()
binding.connection().client
print(gc.get_freeze_count() > frozen, gc.isenabled())
"""
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    built, collector_on, phones, delivery, tokens, paging, client_frozen, still_on = (
        done.stdout.split()
    )
    assert (built, collector_on, client_frozen, still_on) == ("True",) * 4
    assert (phones, delivery, tokens, paging) == ("False",) * 4
