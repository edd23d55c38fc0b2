"""A phase's progress counters: sharded, moved by ADD, summed on read.

``count(phase_id, **increments)`` is the one way any package moves a
counter (registration: registered/accepted/rejected; activation:
credited_*; expiry: expired_satang). They live with the phase, below
registration and activation, so that both count without importing each
other. Money counters must be moved only for ledger transfers that were
created now, never for replays, or they would count twice.
"""
from __future__ import annotations

import random
import re

from pynamodb.expressions.operand import Path

from chalicelib.phases.models import PhaseCounterModel

__all__ = ["COUNTER_SHARDS", "COUNTERS", "count", "totals", "wave_counter"]

# Enough shards that a counter item stays far below DynamoDB's ~1,000
# writes a second per item at registration-day rates, few enough that a read
# (one query) is cheap.
COUNTER_SHARDS = 16

COUNTERS = (
    "registered",
    "accepted",
    "rejected",
    "credited_count",
    "credited_satang",
    "spent_satang",
    "expired_satang",
)
_WAVE_COUNTER = re.compile(r"^wave_(\d{1,3})_credited_count$")


def wave_counter(wave: int) -> str:
    """Name of the per-wave credited counter (wave is 1-based)."""
    return f"wave_{wave}_credited_count"


def _check(name: str, value: int) -> None:
    if name not in COUNTERS and not _WAVE_COUNTER.match(name):
        raise ValueError(f"unknown progress counter {name!r}; one of {', '.join(COUNTERS)} or wave_<n>_credited_count")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"counter {name} must move by an integer, got {value!r}")


def count(phase_id: str, **increments: int) -> None:
    """Add to a phase's counters, e.g. ``count("p3", registered=1, accepted=1)``.

    One ADD on one random shard; zero increments are left out and a call
    with nothing to add writes nothing.
    """
    for name, value in increments.items():
        _check(name, value)
    moves = {name: value for name, value in increments.items() if value}
    if not moves:
        return
    shard = PhaseCounterModel(phase_id, random.randrange(COUNTER_SHARDS))
    shard.update(actions=[Path(name).add(value) for name, value in moves.items()])


def totals(phase_id: str) -> dict[str, int]:
    """Every counter of the phase, summed over its shards (one query)."""
    sums: dict[str, int] = dict.fromkeys(COUNTERS, 0)
    # The raw items: the model declares only the keys, the counters are
    # dynamic attributes that a model read would drop.
    connection = PhaseCounterModel._get_connection()
    start = None
    while True:
        page = connection.query(phase_id, consistent_read=True, exclusive_start_key=start)
        for item in page.get("Items", []):
            for name, typed in item.items():
                if name not in ("phase_id", "shard") and "N" in typed:
                    sums[name] = sums.get(name, 0) + int(typed["N"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return sums
