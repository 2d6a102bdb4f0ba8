"""Wake-ups on a laptop: pending wake-ups are rows in DynamoDB Local, polled every second.

`make run` runs `LocalScheduler.run_due` in a loop beside `chalice local`; a restart loses
nothing because the rows persist with the rest of the local data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import DeleteError

from chalicelib.runtime.scheduler import Wakeup
from chalicelib.storage.models import Wakeup as WakeupRow


class LocalScheduler:
    precision = timedelta(0)

    def schedule(self, wakeup: Wakeup) -> None:
        WakeupRow(
            wakeup.name,
            due_at=_sortable(wakeup.fires_at or wakeup.due_at),
            payload=wakeup.payload(),
        ).save()

    def cancel(self, wakeup: Wakeup) -> None:
        WakeupRow(wakeup.name).delete()
        WakeupRow(wakeup.legacy_name).delete()  # scheduled by the previous release

    def run_due(self, handler: Callable[[dict[str, Any]], Any], now: datetime) -> int:
        """Hand every wake-up due by `now` to `handler`, then forget it. Returns how many ran.

        The row is deleted only after the handler returns, so a crash re-runs it (at least
        once); the step runner is idempotent, which makes that exactly-once in effect."""
        ran = 0
        for row in WakeupRow.by_due.query("due", WakeupRow.due_at <= _sortable(now)):
            handler(row.payload)
            # A failed condition: rescheduled meanwhile under the same name; keep the new one.
            with contextlib.suppress(DeleteError):
                row.delete(condition=WakeupRow.due_at == row.due_at)
            ran += 1
        return ran


def _sortable(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
