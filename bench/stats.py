"""How the benchmarks turn alternating rounds into one ratio.

Each round times the app's path and the raw path back to back (which goes
first alternates), so each round gives a ratio of two rates measured under
the same conditions. On a shared machine one round now and then is hit by
a stall (another tenant, the emulator's garbage collector) that falls on one
path only; the median of the rounds' ratios is not moved by a few such
rounds, where the ratio of the totals is. Both are reported; the target is
on the median.
"""
from __future__ import annotations

from collections.abc import Callable
from statistics import median
from typing import Any, TypeVar

__all__ = ["Rounds", "in_turn"]

A = TypeVar("A")
R = TypeVar("R")


def in_turn(round_no: int, app: Callable[[], A], raw: Callable[[], R]) -> tuple[A, R]:
    """Run both paths of one round, the raw one first in odd rounds, so that
    neither always follows the other's leftovers (the emulator's garbage)."""
    if round_no % 2:
        raw_result = raw()
        return app(), raw_result
    app_result = app()
    return app_result, raw()


class Rounds:
    """Per-round (count, seconds) of the app's path and the raw path."""

    def __init__(self) -> None:
        self._pairs: list[tuple[int, float, int, float]] = []

    def add(self, app_count: int, app_s: float, raw_count: int, raw_s: float) -> None:
        self._pairs.append((app_count, app_s, raw_count, raw_s))

    def app_totals(self) -> tuple[float, int]:
        """The app's path over every round: (seconds, count)."""
        return sum(p[1] for p in self._pairs), sum(p[0] for p in self._pairs)

    def raw_totals(self) -> tuple[float, int]:
        """The raw path over every round: (seconds, count)."""
        return sum(p[3] for p in self._pairs), sum(p[2] for p in self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def ratios(self) -> list[float]:
        return [(a / a_s) / (r / r_s) for a, a_s, r, r_s in self._pairs if a_s > 0 and r_s > 0 and r > 0]

    def median_ratio(self) -> float:
        found = self.ratios()
        return median(found) if found else 0.0

    def ratio_of_totals(self) -> float:
        app = sum(p[0] for p in self._pairs), sum(p[1] for p in self._pairs)
        raw = sum(p[2] for p in self._pairs), sum(p[3] for p in self._pairs)
        if not app[1] or not raw[1] or not raw[0]:
            return 0.0
        return (app[0] / app[1]) / (raw[0] / raw[1])

    def summary(self) -> dict[str, Any]:
        found = self.ratios()
        return {
            "rounds": len(found),
            "median_of_round_ratios": round(self.median_ratio(), 3),
            "ratio_of_totals": round(self.ratio_of_totals(), 3),
            "round_ratio_min": round(min(found), 3) if found else 0.0,
            "round_ratio_max": round(max(found), 3) if found else 0.0,
        }

