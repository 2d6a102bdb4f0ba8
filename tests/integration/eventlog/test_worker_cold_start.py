"""The stream worker's cold start reads the stored funnels as plain data: pydantic, which only
validates funnels where they are written (publish, preview, `autofunnel validate`), stays out
of a fresh interpreter that imports the app and runs the worker's first batch (about a fifth of
its cold start: `bench/bench_startup.py`)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from chalicelib.config import Settings
from chalicelib.identity import store as identities
from chalicelib.identity.keys import identity_key
from chalicelib.storage.models import Enrollment
from tests.conftest import WRITE_KEY, fresh_process_env

PROJECT_DIR = Path(__file__).resolve().parents[3]
PROBE = PROJECT_DIR / "bench" / "cold_start_probe.py"


def test_the_workers_first_batch_runs_the_funnels_without_pydantic(settings: Settings) -> None:
    env = fresh_process_env(settings, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    user = f"cold-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-B", str(PROBE), "--path", str(PROJECT_DIR)]
    command += ["--write-key", WRITE_KEY, "--worker", user]
    done = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200, answer
    contact = identities.owner(identity_key("user", user))
    assert [e.funnel for e in Enrollment.query(contact)] == ["abandoned_cart"]
    loaded = set(answer["worker_loaded"])
    assert "chalicelib" in loaded
    assert not loaded & {"pydantic", "pydantic_core"}, "the worker's first batch loads pydantic"
