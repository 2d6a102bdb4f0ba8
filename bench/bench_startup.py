"""Cold start and package size.

(a) A cold start as Lambda runs it: a fresh interpreter imports the app and answers one
`POST /v1/track` through the Chalice app object (`bench/cold_start_probe.py`), the first funnel
evaluation included (the abandoned-cart funnel enrolls the contact), against DynamoDB Local;
median of several runs, beside `import boto3` alone. Target: at most 1.5x `import boto3`.
(b) The deployment package `autofunnel deploy` uploads: zipped (target at most 30 MB; Chalice's
direct upload stops at 50 MiB) and unpacked (Lambda's limit: 250 MB).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from autofunnel import dynamodb_local  # noqa: E402

RUNS = 7
PROBE = PROJECT_DIR / "bench" / "cold_start_probe.py"
TARGET_RATIO = 1.5
TARGET_ZIP_MB = 30.0


def wall_time(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its stdout). CPU time is what a loaded machine
    distorts least; Lambda gives a cold start a share of one core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, done.stdout


def median_time(statement: str) -> tuple[float, float]:
    runs = [wall_time([sys.executable, "-c", statement]) for _ in range(RUNS)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def stack_environment(endpoint: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "AUTOFUNNEL_STAGE": "bench",
        "AUTOFUNNEL_DYNAMODB_ENDPOINT": endpoint,
        "AUTOFUNNEL_TABLE_PREFIX": prefix,
        "AUTOFUNNEL_WRITE_KEY": "bench-key",
        "AUTOFUNNEL_SIGNING_SECRET": "bench-signing-secret",
        "AUTOFUNNEL_PUBLIC_URL": "https://api.example.test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }


def prepare_stack(env: dict[str, str]) -> None:
    """Tables and the example funnels, written by this process before the timed runs."""
    os.environ.update(env)
    from autofunnel.devstack import publish_funnels
    from chalicelib import wiring
    from chalicelib.storage.tables import create_tables

    wiring.reset()
    create_tables(wiring.storage())
    publish_funnels(PROJECT_DIR / "funnels")


def enrolled(user_id: str) -> bool:
    """Did the probe's request run the funnels (the abandoned-cart funnel enrolls the cart)?"""
    from chalicelib.identity import store
    from chalicelib.identity.keys import identity_key
    from chalicelib.storage.models import Enrollment

    contact_id = store.owner(identity_key("user", user_id))
    return bool(contact_id) and any(True for _ in Enrollment.query(contact_id))


def cold_starts(env: dict[str, str], app_dir: Path) -> tuple[float, float, float, float]:
    totals, cpus, imports, requests = [], [], [], []
    for _ in range(RUNS):
        user_id = f"bench-{uuid.uuid4().hex[:8]}"
        elapsed, cpu, output = wall_time(
            [sys.executable, str(PROBE), "--path", str(app_dir), user_id], env
        )
        result = json.loads(output.strip().splitlines()[-1])
        if result["status"] != 200:
            raise SystemExit(f"the probe's /v1/track answered {result['status']}: {result['body']}")
        if not enrolled(user_id):
            raise SystemExit("the probe's request did not run the funnels: nothing was enrolled")
        totals.append(elapsed)
        cpus.append(cpu)
        imports.append(result["import_ms"])
        requests.append(result["request_ms"])
    return (
        statistics.median(totals),
        statistics.median(cpus),
        statistics.median(imports),
        statistics.median(requests),
    )


def package_size() -> tuple[int, int]:
    from autofunnel.package import build_package

    with tempfile.TemporaryDirectory() as out:
        archive = build_package("prod", Path(out))
        with zipfile.ZipFile(archive) as zipped:
            unpacked = sum(info.file_size for info in zipped.infolist())
        return archive.stat().st_size, unpacked


def main() -> None:
    # AUTOFUNNEL_BENCH_APP_DIR: time another checkout's app (e.g. `git archive` of an older
    # commit) against the same tables, for before/after figures.
    app_dir = Path(os.environ.get("AUTOFUNNEL_BENCH_APP_DIR", PROJECT_DIR))
    emulator = dynamodb_local.start()
    try:
        env = stack_environment(emulator.endpoint, f"bench{uuid.uuid4().hex[:6]}")
        prepare_stack(env)
        baseline, baseline_cpu = median_time("pass")
        boto3, boto3_cpu = median_time("import boto3")
        total, cpu, imported, request = cold_starts(env, app_dir)
    finally:
        emulator.stop()
    zipped, unpacked = package_size()
    rows = [
        (
            "python -c pass (interpreter start)",
            f"{baseline * 1000:.0f} ms",
            f"CPU {baseline_cpu * 1000:.0f} ms",
        ),
        ("python -c 'import boto3'", f"{boto3 * 1000:.0f} ms", f"CPU {boto3_cpu * 1000:.0f} ms"),
        (
            "cold start: import app + one /v1/track",
            f"{total * 1000:.0f} ms",
            f"CPU {cpu * 1000:.0f} ms",
        ),
        ("  of which import app (in the probe)", f"{imported:.0f} ms", ""),
        ("  of which the request, funnels included", f"{request:.0f} ms", ""),
        ("cold start / import boto3", f"{total / boto3:.2f}x", f"target <= {TARGET_RATIO}x"),
        ("  the same in CPU time", f"{cpu / boto3_cpu:.2f}x", f"target <= {TARGET_RATIO}x"),
        ("deployment.zip", f"{zipped / 1e6:.1f} MB", f"target <= {TARGET_ZIP_MB:.0f} MB"),
        ("deployment unpacked (Lambda limit 250 MB)", f"{unpacked / 1e6:.1f} MB", ""),
    ]
    print(f"Cold start and package (median of {RUNS} runs)")
    width = max(len(name) for name, _, _ in rows)
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value:>10}  {target}".rstrip())


if __name__ == "__main__":
    main()
