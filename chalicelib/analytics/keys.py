"""Where each figure lives in the counters table: (scope, metric) names in one place.

A scope is one DynamoDB partition read with one Query:
- funnel#{name}#{version}: a funnel version's figures (`entered`, `step#{id}#sent`, ...)
- templates: `{template}#{channel}#{status}` for every template, one Query for the whole table
- days#{YYYY-MM}: `{YYYY-MM-DD}#{figure}`, a month of trend figures per Query
- cohorts: `{source}#{campaign}#{figure}` by first-touch source and campaign
- rfm: the last RFM run's snapshot (cells, segments), rewritten whole by each run
- segments#{YYYY-MM}: `{YYYY-MM-DD}#{segment}#entered|left`; segment#{name}: `members`
"""

from __future__ import annotations

from datetime import datetime

END_STEP = "_end"  # where an enrollment is after its last step (lingering until the goal window)


def funnel_scope(funnel: str, version: int) -> str:
    return f"funnel#{funnel}#{int(version)}"


def step_metric(step_id: str | None, figure: str) -> str:
    return f"step#{step_id or END_STEP}#{figure}"


def split_metric(step_id: str, arm: str, figure: str) -> str:
    return f"split#{step_id}#{arm}#{figure}"


TEMPLATES_SCOPE = "templates"


def template_metric(funnel: str | None, template_id: str, channel: str, figure: str) -> str:
    return f"{_clean(template_key(funnel, template_id))}#{channel}#{figure}"


def template_key(funnel: str | None, template_id: str) -> str:
    """Template names are per funnel: `reminder_1` of abandoned_cart is abandoned_cart:reminder_1
    (inline content already comes as `{funnel}:{step}`)."""
    return template_id if ":" in template_id or not funnel else f"{funnel}:{template_id}"


def day_scope(at: datetime) -> str:
    return f"days#{at.strftime('%Y-%m')}"


def day_metric(at: datetime, figure: str) -> str:
    return f"{at.strftime('%Y-%m-%d')}#{figure}"


COHORTS_SCOPE = "cohorts"


def cohort_metric(source: str, campaign: str, figure: str) -> str:
    return f"{_clean(source)}#{_clean(campaign)}#{figure}"


RFM_SCOPE = "rfm"


def segment_scope(name: str) -> str:
    return f"segment#{name}"


def segment_day_scope(at: datetime) -> str:
    return f"segments#{at.strftime('%Y-%m')}"


def segment_day_metric(at: datetime, name: str, figure: str) -> str:
    return f"{at.strftime('%Y-%m-%d')}#{name}#{figure}"


def _clean(part: str) -> str:
    """'#' separates key parts; user data (sources, campaigns) must not add more."""
    return part.replace("#", "_")
