"""`autofunnel stats [FUNNEL]`: a running Autofunnel's figures in the terminal (rich tables and
bars), read from the admin API."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from autofunnel.admin_commands import KEY_OPTION, URL_OPTION
from autofunnel.api_client import AdminApi, ApiFailure

BAR_WIDTH = 40


@click.command("stats")
@click.argument("funnel", required=False)
@click.option("--version", "version", type=int, help="one version of FUNNEL (default: all)")
@click.option("--rfm", is_flag=True, help="the RFM grid and segments with their LTV")
@click.option("--templates", is_flag=True, help="per message template and channel")
@click.option("--cohorts", is_flag=True, help="first-touch cohorts and LTV per source")
@click.option(
    "--site", is_flag=True, help="the site-wide funnel: visitors to repeat buyers, with conversion"
)
@click.option(
    "--by",
    type=click.Choice(["day", "week", "source"]),
    default="week",
    show_default=True,
    help="with --site: group visitors by the day or week they were first seen, or by source",
)
@click.option("--days", type=int, default=30, show_default=True, help="with --site: how far back")
@URL_OPTION
@KEY_OPTION
def stats(
    funnel: str | None,
    version: int | None,
    rfm: bool,
    templates: bool,
    cohorts: bool,
    site: bool,
    by: str,
    days: int,
    url: str | None,
    admin_key: str | None,
) -> None:
    """Conversion per step of FUNNEL (or every funnel's totals), with a bar chart."""
    api = AdminApi.from_env(url, admin_key)
    console = Console(highlight=False)
    try:
        if site:
            query = _site_query(by, days)
            print_site(console, api.call("GET", f"/admin/stats/site?{query}")[1])
        elif rfm:
            print_rfm(console, api.call("GET", "/admin/stats/rfm")[1])
        elif templates:
            print_templates(console, api.call("GET", "/admin/stats/templates")[1]["templates"])
        elif cohorts:
            print_cohorts(console, api.call("GET", "/admin/stats/cohorts")[1])
        elif funnel:
            query = f"?version={version}" if version else ""
            print_funnel(console, api.call("GET", f"/admin/stats/funnels/{funnel}{query}")[1])
        else:
            print_funnels(console, api.call("GET", "/admin/stats/funnels")[1]["funnels"])
    except ApiFailure as failure:
        raise click.ClickException(str(failure)) from failure
    except OSError as error:
        raise click.ClickException(f"cannot reach {api.base_url}: {error}") from error


def print_funnels(console: Console, funnels: list[dict[str, Any]]) -> None:
    table = Table(title="Funnels")
    for name in ("funnel", "state", "entered", "active", "converted", "conv.", "revenue"):
        table.add_column(name, justify="left" if name in ("funnel", "state") else "right")
    table.add_column("attributed", justify="right")
    for f in funnels:
        table.add_row(
            f"{f['name']} v{f['version']}",
            f["state"],
            _n(f["entered"]),
            _n(f["active"]),
            _n(f["converted"]),
            _pct(f["conversion_rate"]),
            _money(f["revenue"]),
            _money(f["attributed_revenue"]),
        )
    console.print(table)


def print_funnel(console: Console, body: dict[str, Any]) -> None:
    t = body["totals"]
    which = (
        f"v{body['version']}"
        if body["version"]
        else f"all versions (latest v{body['latest_version']})"
    )
    console.print(
        f"[bold]{body['name']}[/bold] {which} · entered {_n(t['entered'])} · active "
        f"{_n(t['active'])} · converted {_n(t['converted'])} ({_pct(t['conversion_rate'])}) · "
        f"revenue {_money(t['revenue'])} ({_money(t['revenue_per_contact'])} per contact) · "
        f"attributed {_money(t['attributed_revenue'])} from {_n(t['attributed_orders'])} orders"
    )
    table = Table()
    columns = ["step", "kind", "reached", "of entry", "of prev.", "sent", "opened", "clicked"]
    columns += ["converted", "exited", "waiting", "median wait"]
    for name in columns:
        table.add_column(name, justify="left" if name in ("step", "kind") else "right")
    for row in body["steps"]:
        table.add_row(
            row["id"],
            row["kind"],
            _n(row["reached"]),
            _pct(row["rate_from_entry"]),
            _pct(row["rate_from_previous"]),
            _n(row["sent"]),
            _n(row["opened"]),
            _n(row["clicked"]),
            _n(row["converted"]),
            _n(row["exited"]),
            _n(row["waiting"]),
            _duration(row["median_seconds"]),
        )
    console.print(table)
    bars = [("entered", t["entered"])] + [
        (row["id"], row["reached"]) for row in body["steps"] if row["kind"] != "end"
    ]
    bars.append(("converted", t["converted"]))
    console.print(bar_chart(bars))
    for split in body["splits"]:
        print_split(console, split)


def _site_query(by: str, days: int) -> str:
    from datetime import UTC, datetime, timedelta
    from urllib.parse import urlencode

    last = datetime.now(UTC).date()
    first = last - timedelta(days=max(1, days) - 1)
    return urlencode({"by": by, "from": str(first), "to": str(last)})


STAGE_LABELS = {
    "visitors": "visitors",
    "product_viewers": "product viewers",
    "carts": "carts",
    "checkouts": "checkouts",
    "buyers": "buyers",
    "repeat_buyers": "repeat buyers",
}


def print_site(console: Console, body: dict[str, Any]) -> None:
    """The whole site's funnel with each stage's share of the one before, then per group."""
    total, stages = body["total"], body["stages"]
    console.print("[bold]Site funnel[/bold] (contacts first seen in the period, how far they got)")
    shares = total["from_previous"]
    labels = [
        STAGE_LABELS[s] + (f" ({_pct(shares[s])} of previous)" if s in shares else "")
        for s in stages
    ]
    console.print(bar_chart([(label, total[s]) for label, s in zip(labels, stages, strict=True)]))
    table = Table()
    table.add_column(body["by"])
    for stage in stages:
        table.add_column(STAGE_LABELS[stage], justify="right")
    table.add_column("visitor → buyer", justify="right")
    for row in [*body["rows"], {body["by"]: "total", **total}]:
        table.add_row(
            str(row[body["by"]]),
            *[_n(row[stage]) for stage in stages],
            _pct(row["from_visitors"]["buyers"]),
        )
    console.print(table)


def bar_chart(bars: list[tuple[str, float]]) -> Text:
    """Horizontal bars scaled to the largest: 800 → 200 → 50 narrows visibly."""
    top = max((value for _, value in bars), default=0) or 1
    width = max(len(label) for label, _ in bars)
    text = Text()
    for label, value in bars:
        filled = round(BAR_WIDTH * value / top)
        text.append(f"{label:<{width}} ")
        text.append("█" * filled, style="cyan")
        text.append(f" {_n(value)}\n")
    return text


def print_split(console: Console, split: dict[str, Any]) -> None:
    table = Table(title=f"Split {split['step']} — {split['test']}")
    for name in ("arm", "entered", "converted", "rate", "revenue", "lift", "p-value", ""):
        table.add_column(name, justify="left" if name in ("arm", "") else "right")
    for arm in split["arms"]:
        verdict = (
            "control"
            if arm["control"]
            else ("significant" if arm.get("significant") else "not significant")
        )
        p_value = arm.get("p_value")
        table.add_row(
            arm["arm"],
            _n(arm["entered"]),
            _n(arm["converted"]),
            _pct(arm["conversion_rate"]),
            _money(arm["revenue"]),
            "" if arm["control"] else _pct(arm.get("lift"), signed=True),
            "" if p_value is None else f"{p_value:.4f}",
            verdict,
        )
    console.print(table)


def print_rfm(console: Console, body: dict[str, Any]) -> None:
    console.print(
        f"[bold]RFM[/bold] · {_n(body['buyers'])} buyers · scored {body['scored_at'] or 'never'}"
    )
    grid = Table(title="Recency (rows) by frequency+monetary (columns)")
    grid.add_column("R")
    for fm in range(1, 6):
        grid.add_column(f"FM {fm}", justify="right")
    for row in body["grid"]:
        grid.add_row(str(row[0]["r"]), *[f"{_n(c['count'])} {c['segment']}" for c in row])
    console.print(grid)
    table = Table(title="Segments")
    for name in ("segment", "buyers", "revenue", "avg LTV"):
        table.add_column(name, justify="left" if name == "segment" else "right")
    for s in body["segments"]:
        table.add_row(s["segment"], _n(s["count"]), _money(s["revenue"]), _money(s["avg_ltv"]))
    console.print(table)


def print_templates(console: Console, templates: list[dict[str, Any]]) -> None:
    table = Table(title="Message templates")
    for name in ("template", "channel", "sent", "delivered", "open rate", "click rate", "orders"):
        table.add_column(name, justify="left" if name in ("template", "channel") else "right")
    table.add_column("revenue", justify="right")
    for t in templates:
        for channel, c in t["channels"].items():
            table.add_row(
                t["template"],
                channel,
                _n(c["sent"]),
                _n(c["delivered"]),
                _pct(c["open_rate"]),
                _pct(c["click_rate"]),
                _n(c["orders"]),
                _money(c["revenue"]),
            )
    console.print(table)


def print_cohorts(console: Console, body: dict[str, Any]) -> None:
    table = Table(title="Cohorts by first touch")
    for name in ("source", "campaign", "contacts", "buyers", "revenue", "LTV/contact"):
        table.add_column(name, justify="left" if name in ("source", "campaign") else "right")
    for c in body["cohorts"]:
        table.add_row(
            c["source"],
            c["campaign"],
            _n(c["contacts"]),
            _n(c["buyers"]),
            _money(c["revenue"]),
            _money(c["ltv_per_contact"]),
        )
    console.print(table)


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            whole, rest = divmod(s, size)
            return f"{whole}{unit}" + (f" {rest // 3600}h" if unit == "d" and rest >= 3600 else "")
    return f"{s}s"


COMMANDS: list[click.Command] = [stats]
