"""Split-test arithmetic (pure): conversion rates, lift, and the two-proportion z-test.

The test is the classic pooled two-proportion z-test, two-sided: under "both arms convert
equally" the pooled rate p = (x1 + x2) / (n1 + n2) gives the standard error
sqrt(p (1 - p) (1/n1 + 1/n2)); z = (p1 - p2) / se and p-value = erfc(|z| / sqrt 2).
It is reliable once each arm has about 5+ conversions and 5+ non-conversions; below that the
result says so (`enough_data: false`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

ALPHA = 0.05
MIN_OUTCOMES = 5


@dataclass(frozen=True)
class Comparison:
    lift: float | None  # relative: (rate - control) / control
    z: float | None
    p_value: float | None
    significant: bool
    enough_data: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rate(converted: float, entered: float) -> float | None:
    return converted / entered if entered else None


def compare(
    converted: int, entered: int, control_converted: int, control_entered: int
) -> Comparison:
    p1, p2 = rate(converted, entered), rate(control_converted, control_entered)
    # (x1/n1) / (x2/n2) - 1 in integers first: 30/100 against 10/100 is a lift of exactly 2.
    lift = (
        (converted * control_entered) / (control_converted * entered) - 1
        if p1 is not None and p2
        else None
    )
    enough = all(
        count >= MIN_OUTCOMES
        for count in (
            converted,
            entered - converted,
            control_converted,
            control_entered - control_converted,
        )
    )
    if not entered or not control_entered:
        return Comparison(lift, None, None, False, False)
    pooled = (converted + control_converted) / (entered + control_entered)
    se = math.sqrt(pooled * (1 - pooled) * (1 / entered + 1 / control_entered))
    if se == 0:
        return Comparison(lift, None, None, False, enough)
    assert p1 is not None and p2 is not None
    z = (p1 - p2) / se
    p_value = math.erfc(abs(z) / math.sqrt(2))
    return Comparison(lift, z, p_value, p_value < ALPHA, enough)
