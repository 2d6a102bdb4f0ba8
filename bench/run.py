"""Run every benchmark in bench/ (files named bench_*.py) and print their tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main() -> int:
    failures = 0
    for script in sorted(BENCH_DIR.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        failures += (
            subprocess.run([sys.executable, str(script)], cwd=BENCH_DIR.parent).returncode != 0
        )
        print(flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
