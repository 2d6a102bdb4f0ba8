"""Cold start and package size.

(a) A cold start as Lambda runs it: a fresh interpreter imports the app and answers one
`POST /v1/track` through the Chalice app object (`bench/cold_start_probe.py`), against DynamoDB
Local; median of several runs, beside `import boto3` alone. Target: at most 1.5x `import boto3`
in CPU time (what a loaded machine distorts least). The route only appends to the event log;
the first funnel evaluation happens in the stream worker's Lambda, so the worker's own cold
start is timed too: a fresh interpreter imports the app and hands the worker the stream records
the request added, in one batch (the abandoned-cart funnel enrolls the contact).
The CPU figures move with the machine's load (a shared machine's ±15%); where valgrind is
installed, the instructions each process executes are counted too (cachegrind, one run each:
the count is the same from run to run, whatever the load), and their ratio printed beside; the
worker's from probes stopped after `import app` and just before and after its batch.
(b) The deployment package `autofunnel deploy` uploads: zipped (target at most 30 MB; Chalice's
direct upload stops at 50 MiB) and unpacked (Lambda's limit: 250 MB).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass
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


def instructions(command: list[str], env: dict[str, str] | None = None) -> int | None:
    """Instructions the whole process executes (valgrind's cachegrind), None without valgrind.
    A fixed hash seed: the same count from run to run."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    counting = [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    done = subprocess.run(
        counting + command,
        cwd=PROJECT_DIR,
        env={**(env or os.environ), "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return int(found[1].replace(",", ""))


def worker_instruction_count(env: dict[str, str], paths: list[Path]) -> int | None:
    """The worker's cold start in instructions: the interpreter's start and `import app`, then
    its first batch alone (the probe's process ended just before and just after it, which
    leaves out the API's request and the harness's stream reads; no teardown either)."""
    worker = [*probe_command(paths), "--worker", "--stop"]
    imported = instructions([*worker, "imported"], env)
    before = instructions([*worker, "before-batch"], env)
    after = instructions([*worker, "after-batch"], env)
    if imported is None or before is None or after is None:
        return None
    return imported + after - before


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


@dataclass
class ColdStart:
    """Medians over the runs: wall and CPU seconds of the whole process, and the probe's own
    CPU milliseconds for importing the app, answering the request and running the worker."""

    wall: float
    cpu: float
    import_cpu_ms: float
    request_cpu_ms: float
    worker_cpu_ms: float


def cold_starts(env: dict[str, str], paths: list[Path], *, worker: bool) -> ColdStart:
    runs = []
    for _ in range(RUNS):
        user_id = f"bench-{uuid.uuid4().hex[:8]}"
        command = probe_command(paths, user_id) + (["--worker"] if worker else [])
        elapsed, cpu, output = wall_time(command, env)
        result = json.loads(output.strip().splitlines()[-1])
        if result["status"] != 200:
            raise SystemExit(f"the probe's /v1/track answered {result['status']}: {result['body']}")
        if worker and not enrolled(user_id):
            raise SystemExit("the probe's worker did not run the funnels: nothing was enrolled")
        runs.append((elapsed, cpu, result["import_cpu_ms"], result["request_cpu_ms"],
                     result.get("worker_cpu_ms", 0.0)))  # fmt: skip
    return ColdStart(*(statistics.median(column) for column in zip(*runs, strict=True)))


def probe_command(paths: list[Path], user_id: str | None = None) -> list[str]:
    """-I -S -B: nothing from the environment or site-packages, and no bytecode written (Lambda's
    /var/task is read only): only the package and the runtime's SDK, as Lambda runs it."""
    user_id = user_id or f"bench-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-I", "-S", "-B", str(PROBE), user_id]
    return command + [argument for path in paths for argument in ("--path", str(path))]


def unpacked_size(archive: Path) -> int:
    with zipfile.ZipFile(archive) as zipped:
        return sum(info.file_size for info in zipped.infolist())


def main() -> None:
    from autofunnel.package import build_package, unpack_like_lambda

    with tempfile.TemporaryDirectory() as scratch:
        archive = build_package("prod", Path(scratch) / "out")
        zipped, unpacked = archive.stat().st_size, unpacked_size(archive)
        # AUTOFUNNEL_BENCH_APP_DIR: time another checkout's source tree instead (e.g. `git
        # archive` of an older commit, with this venv's packages), for before/after figures.
        if "AUTOFUNNEL_BENCH_APP_DIR" in os.environ:
            paths = [Path(os.environ["AUTOFUNNEL_BENCH_APP_DIR"]), *map(Path, sys.path[1:])]
        else:
            paths = list(unpack_like_lambda(archive, Path(scratch)))
        emulator = dynamodb_local.start()
        try:
            env = stack_environment(emulator.endpoint, f"bench{uuid.uuid4().hex[:6]}")
            prepare_stack(env)
            _, baseline_cpu = median_time("pass")
            boto3, boto3_cpu = median_time("import boto3")
            api = cold_starts(env, paths, worker=False)
            boto3_instructions = instructions([sys.executable, "-c", "import boto3"])
            api_instructions = instructions(probe_command(paths), env)
            worker = cold_starts(env, paths, worker=True)
            worker_instructions = worker_instruction_count(env, paths)
        finally:
            emulator.stop()
    worker_alone = baseline_cpu * 1000 + worker.import_cpu_ms + worker.worker_cpu_ms
    target = f"target <= {TARGET_RATIO}x"
    rows = [
        ("python -c pass (interpreter start)", f"CPU {baseline_cpu * 1000:.0f} ms", ""),
        ("python -c 'import boto3'", f"CPU {boto3_cpu * 1000:.0f} ms",
         f"wall {boto3 * 1000:.0f} ms"),
        ("API cold start: import app + one /v1/track", f"CPU {api.cpu * 1000:.0f} ms",
         f"wall {api.wall * 1000:.0f} ms"),
        ("  of which import app", f"CPU {api.import_cpu_ms:.0f} ms", ""),
        ("  of which the request (append to the log)", f"CPU {api.request_cpu_ms:.0f} ms", ""),
        ("API cold start / import boto3, CPU", f"{api.cpu / boto3_cpu:.2f}x", target),
        ("  the same in wall time", f"{api.wall / boto3:.2f}x", ""),
    ]  # fmt: skip
    if api_instructions and boto3_instructions:
        rows += [
            ("  the same in instructions executed", f"{api_instructions / boto3_instructions:.2f}x",
             f"{api_instructions / 1e6:.0f}M / {boto3_instructions / 1e6:.0f}M (load-independent)"),
        ]  # fmt: skip
    rows += [
        ("worker cold start: import app + its 1st batch", f"CPU {worker_alone:.0f} ms", ""),
        ("  of which the batch (first funnel evaluation)", f"CPU {worker.worker_cpu_ms:.0f} ms",
         ""),
        ("  worker cold start / import boto3, CPU", f"{worker_alone / 1000 / boto3_cpu:.2f}x", ""),
    ]  # fmt: skip
    if worker_instructions and boto3_instructions:
        rows += [
            ("  the same in instructions executed",
             f"{worker_instructions / boto3_instructions:.2f}x",
             f"{worker_instructions / 1e6:.0f}M / {boto3_instructions / 1e6:.0f}M"),
        ]  # fmt: skip
    rows += [
        ("deployment.zip", f"{zipped / 1e6:.1f} MB", f"target <= {TARGET_ZIP_MB:.0f} MB"),
        ("deployment unpacked (Lambda limit 250 MB)", f"{unpacked / 1e6:.1f} MB", ""),
    ]  # fmt: skip
    print(f"Cold start and package (median of {RUNS} runs)")
    width = max(len(name) for name, _, _ in rows)
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value:>12}  {target}".rstrip())


if __name__ == "__main__":
    main()
