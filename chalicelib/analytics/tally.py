"""A Tally: counter increments gathered in memory, written once (one UpdateItem ADD each).

Amounts are Decimals so that money adds up exactly (0.1 + 0.2 is 0.3), as DynamoDB's own
decimal arithmetic does when the ADDs land.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal


def money(value: object) -> Decimal:
    """A number as an exact Decimal (floats through their shortest repr: 49.9 stays 49.9)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Decimal(0)
    return Decimal(str(value))


class Tally:
    def __init__(self) -> None:
        self._amounts: dict[tuple[str, str], Decimal] = defaultdict(Decimal)

    def add(self, scope: str, metric: str, amount: object = 1) -> None:
        self._amounts[(scope, metric)] += money(amount)

    def update(self, other: Tally) -> None:
        for key, amount in other._amounts.items():
            self._amounts[key] += amount

    def items(self) -> Iterator[tuple[str, str, Decimal]]:
        """Non-zero increments (a +1 and -1 on one gauge cancel out and write nothing)."""
        for (scope, metric), amount in sorted(self._amounts.items()):
            if amount:
                yield scope, metric, amount

    def as_dict(self) -> dict[str, float]:
        """`scope|metric -> amount`, for tests and logs."""
        return {f"{scope}|{metric}": float(amount) for scope, metric, amount in self.items()}
