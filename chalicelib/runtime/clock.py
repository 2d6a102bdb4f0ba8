"""Where the runtime gets `now` from: the system clock, or a faster one for local demos.

`AUTOFUNNEL_TIME_SCALE=60` makes a local minute pass in a second (a 30-minute wait takes 30 s).
The API and the local scheduler share the epoch through the environment, so they agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ScaledClock:
    epoch: datetime
    scale: float

    def __call__(self) -> datetime:
        return self.epoch + (datetime.now(UTC) - self.epoch) * self.scale


def clock_for(time_scale: float, epoch: str) -> Clock:
    if time_scale == 1 or not epoch:
        return system_clock
    return ScaledClock(datetime.fromisoformat(epoch), time_scale)
