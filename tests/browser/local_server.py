"""`chalice local --no-autoreload --stage local` on a free port, for tests that need real HTTP
(the browser, the official Segment/RudderStack clients), with the stream worker polling the
event log beside it, as `make run` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autofunnel.dynamodb_local import free_port
from chalicelib import wiring

PROJECT_DIR = Path(__file__).resolve().parents[2]
CHALICE = Path(sys.executable).parent / "chalice"
# How long a test waits for an answer: requests still run funnels and analytics inline, which
# takes seconds when the machine is busy (the whole suite runs beside the test).
ANSWER_SECONDS = 60.0


@contextmanager
def chalice_local(env_overrides: dict[str, str]) -> Iterator[str]:
    """Serve the app with this process's environment plus `env_overrides`; yields its URL."""
    port = int(env_overrides.get("PORT") or free_port())
    env = {**os.environ, **env_overrides}
    env.pop("PORT", None)
    log = tempfile.TemporaryFile()  # noqa: SIM115 - a file: a full pipe would stall the server
    process = subprocess.Popen(
        [str(CHALICE), "local", "--no-autoreload", "--stage", "local", "--port", str(port)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopping it stops everything it started
    )
    url = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    worker = threading.Thread(target=_poll_streams, args=(stop,), daemon=True)
    try:
        _wait_until_up(process, url, log)
        worker.start()
        yield url
    finally:
        stop.set()
        if worker.is_alive():
            worker.join(timeout=10)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def _poll_streams(stop: threading.Event) -> None:
    app = wiring.app()
    while not stop.wait(0.2):
        app.streams.poll()


def _wait_until_up(
    process: subprocess.Popen[bytes], url: str, log: object, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)  # type: ignore[attr-defined]
            output = log.read().decode(errors="replace")  # type: ignore[attr-defined]
            raise RuntimeError(f"chalice local exited at start:\n{output[-3000:]}")
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers (maybe 503 from a health check): the server is up
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"chalice local did not answer on {url} within {timeout:.0f} s")
