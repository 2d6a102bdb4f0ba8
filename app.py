"""The Chalice app: routes come from blueprints in chalicelib.api; Lambda entry points live here."""

from typing import Any

from chalice import Chalice, Rate

from chalicelib import wiring
from chalicelib.api import (
    admin,
    admin_funnels,
    dashboard,
    health,
    ingest,
    provider_webhooks,
    segments,
    site,
    stats,
    tracking,
)

app = Chalice(app_name="autofunnel")
app.register_blueprint(health.blueprint)
app.register_blueprint(admin.blueprint)
app.register_blueprint(admin_funnels.blueprint)
app.register_blueprint(tracking.blueprint)
app.register_blueprint(provider_webhooks.blueprint)
app.register_blueprint(ingest.blueprint)
app.register_blueprint(site.blueprint)
app.register_blueprint(stats.blueprint)
app.register_blueprint(segments.blueprint)
app.register_blueprint(dashboard.blueprint)


@app.lambda_function(name="step_runner")
def step_runner(event: dict[str, Any], context: Any) -> dict[str, str]:
    """EventBridge Scheduler wakes an enrollment here (the schedule's Input is the wake-up)."""
    wiring.runtime().handle_wakeup(event)
    return {"status": "done"}


@app.schedule(Rate(1, unit=Rate.HOURS), name="date_triggers")
def date_triggers(event: Any) -> dict[str, int]:
    """Birthdays, renewals and other date-triggered funnels."""
    return {"entered": wiring.runtime().run_date_triggers()}


@app.schedule(Rate(5, unit=Rate.MINUTES), name="sweeper")
def sweeper(event: Any) -> dict[str, int]:
    """Repairs what a crash left undone: overdue wake-ups, interrupted sends."""
    return wiring.runtime().sweep()


@app.schedule(Rate(1, unit=Rate.DAYS), name="rfm_scoring")
def rfm_scoring(event: Any) -> dict[str, int]:
    """Re-scores every buyer against today's RFM quintiles (segments, LTV, funnel triggers)."""
    from chalicelib.analytics import rfm

    wiring.storage()
    result = rfm.run(wiring.clock()())
    return {"buyers": result.buyers, "changed": result.changed}


@app.schedule(Rate(15, unit=Rate.MINUTES), name="segment_rechecks")
def segment_rechecks(event: Any) -> dict[str, int]:
    """Saved segments whose `within` windows closed: membership re-checked for those contacts."""
    from chalicelib.analytics import segments as saved_segments

    wiring.storage()
    return {"rechecked": saved_segments.recheck_due(wiring.clock()())}
