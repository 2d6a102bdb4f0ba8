"""A job as the admin API, the dashboard and the CLI show it: status, passes, progress, counts."""

from __future__ import annotations

from typing import Any

from chalicelib.paging.store import DONE
from chalicelib.storage.models import PagedJob


def describe(job: PagedJob) -> dict[str, Any]:
    plan: list[dict[str, Any]] = job.plan or []
    cursor: dict[str, Any] = job.cursor or {}
    progress: dict[str, Any] = job.progress or {}
    index = int(cursor.get("pass", 0))
    passes = []
    for number, step in enumerate(plan):
        figures = progress.get(step["pass"], {})
        passes.append(
            {
                "name": step["pass"],
                "done": int(figures.get("done", 0)),
                "total": figures.get("total"),
                "finished": number < index,
            }
        )
    return {
        "id": job.job_id,
        "kind": job.kind,
        "status": job.status,
        "params": job.params or {},
        "as_of": job.as_of.isoformat(),
        "not_before": job.not_before.isoformat() if job.not_before else None,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "pass": plan[index]["pass"] if index < len(plan) else None,
        "passes": passes,
        "progress": 1.0 if job.status == DONE else round(_fraction(plan, cursor, passes), 4),
        "counts": {name: _number(value) for name, value in (job.counts or {}).items()},
        "invocations": int(job.invocations or 0),
        "pages": int(job.pages or 0),
        "failures": int(job.failures or 0),
        "error": job.error,
        "status_url": f"/admin/jobs/{job.job_id}",
    }


def _fraction(plan: list[dict[str, Any]], cursor: dict[str, Any], passes: list[Any]) -> float:
    """Finished passes count whole; the current one by items against its total when known,
    otherwise by partitions; never 1 before the job is done."""
    if not plan:
        return 0.0
    index = int(cursor.get("pass", 0))
    if index >= len(plan):
        return 0.99
    current = passes[index]
    if current["total"]:
        within = min(1.0, current["done"] / current["total"])
    else:
        partitions = len(plan[index]["partitions"]) or 1
        within = int(cursor.get("partition", 0)) / partitions
    return min(0.99, (index + within) / len(plan))


def _number(value: float) -> float:
    return int(value) if float(value).is_integer() else round(float(value), 2)
