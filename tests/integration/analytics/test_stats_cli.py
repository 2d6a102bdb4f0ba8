"""`autofunnel stats` prints the figures the admin API serves: tables and a bar chart."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from autofunnel.api_client import AdminApi, ApiFailure
from autofunnel.cli import main
from tests.conftest import ADMIN_KEY
from tests.integration.analytics.population import World


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI's admin client answered by the app in-process (the Chalice test client)."""

    def call(self: AdminApi, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        response = world.api.http.get(path, headers={"Authorization": f"Bearer {self.admin_key}"})
        body = json.loads(response.body)
        if response.status_code >= 400:
            raise ApiFailure(response.status_code, body)
        return response.status_code, body

    monkeypatch.setattr(AdminApi, "call", call)
    monkeypatch.setenv("AUTOFUNNEL_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("COLUMNS", "160")
    return CliRunner()


def test_stats_prints_the_funnel_table_and_bars(world: World, cli: CliRunner) -> None:
    world.stack.publish("abandoned_cart.yaml")
    shoppers = [f"s{n}" for n in range(4)]
    world.batch(
        [{"type": "identify", "userId": s, "traits": {"email": f"{s}@ex.com"}} for s in shoppers]
    )
    world.batch([world.track(s, "cart_updated", items_count=1, total=50) for s in shoppers])
    world.advance(timedelta(hours=2))
    world.batch([world.track("s0", "order_completed", total=50)])
    world.advance(timedelta(days=2))

    listed = cli.invoke(main, ["stats"])
    assert listed.exit_code == 0, listed.output
    assert "abandoned_cart v1" in listed.output and "25.0%" in listed.output

    shown = cli.invoke(main, ["stats", "abandoned_cart"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "entered 4 · active 3 · converted 1 (25.0%) · revenue 50.00" in lines[0]
    bars = [line for line in lines if "█" in line]
    assert [line.split()[0] for line in bars] == [
        "entered", "wait_30m", "reminder_1", "wait_1d", "reminder_2", "wait_2d", "converted",
    ]  # fmt: skip
    assert bars[0].count("█") == 40 and bars[0].endswith(" 4")  # the widest bar
    assert bars[-1].count("█") == 10 and bars[-1].endswith(" 1")  # a quarter of it
    reminder_1 = next(line for line in lines if line.startswith("│ reminder_1"))
    assert reminder_1.split("│")[3].strip() == "4"  # reached

    unknown = cli.invoke(main, ["stats", "nope"])
    assert unknown.exit_code != 0 and "HTTP 404" in unknown.output


def test_stats_rfm_and_templates(
    world: World, cli: CliRunner, admin_headers: dict[str, str]
) -> None:
    world.batch([world.track("b1", "order_completed", total=10)])
    world.run_job("/admin/jobs/rfm", admin_headers)
    rfm = cli.invoke(main, ["stats", "--rfm"])
    assert rfm.exit_code == 0, rfm.output
    assert "1 buyers" in rfm.output and "lost" in rfm.output
    assert cli.invoke(main, ["stats", "--templates"]).exit_code == 0
    cohorts = cli.invoke(main, ["stats", "--cohorts"])
    assert "(none)" in cohorts.output
