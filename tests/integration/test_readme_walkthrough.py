"""The README's abandoned-cart walkthrough, run as written (its own curl lines, `sleep 20`, the
outbox), against `chalice local` and the local scheduler with funnel time 120x faster, at 22:45
UTC (night in the funnel's Europe/Berlin: quiet hours) and at 10:00 UTC."""

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


def walkthrough() -> str:
    """The README's walkthrough block as a shell script, without its `make run` line."""
    block = README.split("Watch the abandoned-cart funnel work", 1)[1]
    code = re.search(r"```sh\n(.*?)```", block, re.S)
    assert code, "the README lost its walkthrough"
    lines = [line for line in code.group(1).splitlines() if "make run" not in line]
    assert any(line.startswith("sleep ") for line in lines)
    return "set -euo pipefail\n" + "\n".join(lines)


@pytest.mark.parametrize("hour", ["22:45", "10:00"])
def test_the_readme_walkthrough_shows_reminder_1_at_any_hour(
    hour: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    wall = datetime.fromisoformat(f"2026-01-14T{hour}:00+00:00")  # a winter Wednesday
    options = devstack.LocalOptions(
        port=0,
        data_dir=Path("."),
        admin_key=devstack.DEV_ADMIN_KEY,
        write_key=devstack.DEV_WRITE_KEY,
        time_scale=120,
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
                ["bash", "-c", walkthrough().replace("http://127.0.0.1:8000", url)],
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
