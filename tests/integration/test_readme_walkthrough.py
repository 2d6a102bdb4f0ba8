"""The README's abandoned-cart walkthrough, run as written (its own curl lines and the outbox),
against `chalice local` and the local scheduler, at 22:45 UTC (night in the funnel's
Europe/Berlin: quiet hours) and at 10:00 UTC.

The README runs funnel time 120x faster and waits `sleep 20` for the 30-minute reminder (15 s).
The test checks that arithmetic, then runs funnel time ten times faster still and, instead of
the sleep, polls the outbox until reminder 1 is there: the same walkthrough in seconds."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autofunnel import devstack
from chalicelib import wiring
from chalicelib.config import Settings
from tests.browser.local_server import chalice_local

pytestmark = pytest.mark.slow  # `integration` follows from the fixtures
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


REMINDER_WAIT = 30 * 60  # seconds of funnel time: abandoned_cart's first wait
FASTER = 10  # the test's funnel time runs this many times faster than the README's
WAIT_FOR_REMINDER = """for _ in $(seq 600); do
  curl -s -H "Authorization: Bearer dev-admin-key" http://127.0.0.1:8000/admin/outbox \\
    | grep -q reminder_1 && break
  sleep 0.1
done"""


def walkthrough() -> tuple[str, float]:
    """The README's walkthrough block as a shell script, without its `make run` line, and the
    time scale it runs with; its `sleep` is replaced by polling the outbox."""
    block = README.split("Watch the abandoned-cart funnel work", 1)[1]
    code = re.search(r"```sh\n(.*?)```", block, re.S)
    assert code, "the README lost its walkthrough"
    scale = re.search(r"AUTOFUNNEL_TIME_SCALE=(\d+) make run", code.group(1))
    assert scale, "the walkthrough no longer starts `make run` with a time scale"
    lines = [line for line in code.group(1).splitlines() if "make run" not in line]
    [sleep] = [line for line in lines if line.startswith("sleep ")]
    # What the README promises: its sleep outlasts the reminder's wait in scaled time.
    assert REMINDER_WAIT / float(scale.group(1)) < float(sleep.split()[1]), sleep
    lines[lines.index(sleep)] = WAIT_FOR_REMINDER
    return "set -euo pipefail\n" + "\n".join(lines), float(scale.group(1))


@pytest.mark.parametrize("hour", ["22:45", "10:00"])
def test_the_readme_walkthrough_shows_reminder_1_at_any_hour(
    hour: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, scale = walkthrough()
    wall = datetime.fromisoformat(f"2026-01-14T{hour}:00+00:00")  # a winter Wednesday
    options = devstack.LocalOptions(
        port=0,
        data_dir=Path("."),
        admin_key=devstack.DEV_ADMIN_KEY,
        write_key=devstack.DEV_WRITE_KEY,
        time_scale=scale * FASTER,
    )
    env = devstack.local_environment(options, settings.dynamodb_endpoint, wall=wall)
    env.pop("AUTOFUNNEL_PUBLIC_URL")
    env["AUTOFUNNEL_TABLE_PREFIX"] = settings.table_prefix  # this test's fresh tables
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    start = datetime.fromisoformat(env["AUTOFUNNEL_CLOCK_START"])
    if hour == "22:45":  # 23:45 in Berlin: funnel time starts at 09:00 there instead
        assert start == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    else:
        assert start == wall
    devstack.publish_funnels(devstack.PROJECT_DIR / "funnels")

    scheduler = devstack.LocalSchedulerLoop()
    with chalice_local({}) as url:
        scheduler.start()
        try:
            result = subprocess.run(
                ["bash", "-c", script.replace("http://127.0.0.1:8000", url)],
                cwd=ROOT,
                env={**os.environ, "AUTOFUNNEL_URL": url},
                capture_output=True,
                text=True,
                timeout=180,
            )
        finally:
            scheduler.stop()
    assert result.returncode == 0, result.stderr
    shown = result.stdout.replace('":"', '": "')
    assert '"step_id": "reminder_1"' in shown, result.stdout  # the outbox, as JSON
    assert "abandoned_cart/reminder_1" in shown  # and as the CLI's table
    assert '"contacts":[{' in result.stdout and "ann@example.com" in shown  # her contact, found
