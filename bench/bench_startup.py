"""Cold-start proxy and package size.

(a) wall time of `python -c "import app"` in a fresh interpreter, median of several runs, beside
`import boto3` alone; (b) the size of the `chalice package` deployment zip.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
RUNS = 7


def import_time(statement: str) -> float:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], cwd=PROJECT_DIR, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def package_size() -> tuple[int, int]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    chalice = str(Path(sys.executable).parent / "chalice")
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [chalice, "package", "--stage", "prod", out],
            cwd=PROJECT_DIR,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        archive = Path(out) / "deployment.zip"
        with zipfile.ZipFile(archive) as zipped:
            unpacked = sum(info.file_size for info in zipped.infolist())
        return archive.stat().st_size, unpacked


def main() -> None:
    baseline = import_time("pass")
    boto3 = import_time("import boto3")
    app = import_time("import app")
    zipped, unpacked = package_size()
    rows = [
        ("python -c pass (interpreter start)", f"{baseline * 1000:.0f} ms"),
        ("python -c 'import boto3'", f"{boto3 * 1000:.0f} ms"),
        ("python -c 'import app' (cold-start proxy)", f"{app * 1000:.0f} ms"),
        ("import app / import boto3", f"{app / boto3:.2f}x"),
        ("deployment.zip (chalice package)", f"{zipped / 1e6:.1f} MB"),
        ("deployment unpacked (Lambda limit 250 MB)", f"{unpacked / 1e6:.1f} MB"),
    ]
    print(f"Cold start and package (median of {RUNS} runs)")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>10}")


if __name__ == "__main__":
    main()
