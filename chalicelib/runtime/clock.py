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
    epoch: datetime  # the wall-clock moment funnel time started from
    scale: float
    start: datetime | None = None  # funnel time at `epoch` (default: `epoch` itself)

    def __call__(self) -> datetime:
        return (self.start or self.epoch) + (datetime.now(UTC) - self.epoch) * self.scale


def clock_for(time_scale: float, epoch: str, start: str = "") -> Clock:
    """`start`: a local demo may begin funnel time elsewhere than the wall clock (in the shop's
    daytime, so quiet hours do not hold what it shows; see autofunnel/devstack.py)."""
    if time_scale == 1 or not epoch:
        return system_clock
    begin = datetime.fromisoformat(start) if start else None
    return ScaledClock(datetime.fromisoformat(epoch), time_scale, begin)
