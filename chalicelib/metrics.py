"""CloudWatch metrics without an SDK call: one Embedded Metric Format line on stdout, which
Lambda's log pipeline turns into a metric (namespace `Autofunnel`). Locally the line is only
printed. Alarms in `infra/` watch these names; keep them stable."""

from __future__ import annotations

import json
import sys
import time

NAMESPACE = "Autofunnel"


def emit(name: str, value: float, unit: str = "Count", **dimensions: str) -> None:
    """One data point of `name` with `dimensions` (e.g. Channel="sms")."""
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }
            ],
        },
        name: value,
        **dimensions,
    }
    print(json.dumps(document, separators=(",", ":")), file=sys.stdout, flush=True)
