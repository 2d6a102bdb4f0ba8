"""Per message template: sends, deliveries, reactions and attributed orders by channel."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from chalicelib.analytics import counters, keys
from chalicelib.analytics.significance import rate

FIGURES = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "bounced",
    "unsubscribed",
    "failed",
    "orders",
    "revenue",
)


def templates() -> list[dict[str, Any]]:
    found: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for metric, value in counters.read(keys.TEMPLATES_SCOPE).items():
        template, channel, figure = metric.rsplit("#", 2)
        found[template][channel][figure] = value
    rows = []
    for template in sorted(found):
        channels = {
            channel: _with_rates({figure: numbers.get(figure, 0) for figure in FIGURES})
            for channel, numbers in sorted(found[template].items())
        }
        total = {figure: sum(c[figure] for c in channels.values()) for figure in FIGURES}
        funnel, _, name = template.partition(":")
        rows.append(
            {
                "template": template,
                "funnel": funnel,
                "name": name,
                **_with_rates(total),
                "channels": channels,
            }
        )
    return rows


def _with_rates(numbers: dict[str, Any]) -> dict[str, Any]:
    sent = numbers["sent"]
    numbers["delivery_rate"] = rate(numbers["delivered"], sent)
    numbers["open_rate"] = rate(numbers["opened"], sent)
    numbers["click_rate"] = rate(numbers["clicked"], sent)
    return numbers
