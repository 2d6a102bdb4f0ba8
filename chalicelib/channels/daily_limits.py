"""A global daily budget per channel (AUTOFUNNEL_DAILY_LIMITS, e.g. {"sms": 500}), shared by every
container: one counter item per channel and UTC day, taken with a conditional ADD, so N
containers sending at once still send at most the limit. A send over the limit is held (see
`runtime.held`), never dropped, and each one counts the CloudWatch metric `DailyLimitReached`
(namespace `Autofunnel`, dimensions `stage` and `channel`), which infra/'s alarm watches.

The counter is deliberately one item, not write-sharded: an exact limit needs one place to
count, and a daily budget of messages is far below one item's 1,000 writes per second.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib import observability
from chalicelib.storage.models import Counter

SCOPE = "daily_limit#{day}"


def report_reached(channel: str) -> None:
    observability.daily_limit_reached(channel)


class DailyBudget:
    def __init__(
        self,
        limits: Mapping[str, int],
        on_reached: Callable[[str], None] = report_reached,
    ) -> None:
        self.limits = dict(limits)
        self.on_reached = on_reached

    def take(self, channel: str, now: datetime, force: bool = False) -> bool:
        """Count one send on `channel` today; False (nothing counted) when the day's limit is
        used up. `force`: an operator released this message, so it goes (and is counted)
        whatever the limit."""
        limit = self.limits.get(channel)
        if limit is None:
            return True
        counter = Counter(_scope(now), channel)
        if force:
            counter.update(actions=[Counter.value.add(1)])
            return True
        if limit <= 0:
            self.on_reached(channel)
            return False
        try:
            counter.update(
                actions=[Counter.value.add(1)],
                condition=Counter.value.does_not_exist() | (Counter.value < limit),
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            self.on_reached(channel)
            return False
        return True

    def give_back(self, channel: str, now: datetime) -> None:
        """Nothing was sent after `take` (a provider failure): the unit is free again."""
        if channel in self.limits:
            Counter(_scope(now), channel).update(actions=[Counter.value.add(-1)])

    def used(self, now: datetime) -> dict[str, int]:
        """Sends counted today per limited channel (one Query)."""
        counted = {item.metric: int(item.value) for item in Counter.query(_scope(now))}
        return {channel: counted.get(channel, 0) for channel in self.limits}


def _scope(now: datetime) -> str:
    return SCOPE.format(day=now.strftime("%Y-%m-%d"))  # the dispatcher's clock is UTC
