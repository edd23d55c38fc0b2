"""Progress of a phase: sharded counters, per-wave status, the API view.

``count(phase_id, **increments)`` is the one way any package moves a
counter (registration: registered/accepted/rejected; activation:
credited_*; expiry: expired_satang; payments: spent_satang). Money counters
must be moved only for ledger transfers that were created now, never for
replays, or they would count twice.
"""
from __future__ import annotations

import random
import re
from typing import Any, Iterable, Mapping

from pynamodb.expressions.operand import Path

from chalicelib.activation.models import PhaseCounterModel, RunModel

__all__ = [
    "COUNTER_SHARDS",
    "COUNTERS",
    "WAVE_STATUSES",
    "count",
    "wave_counter",
    "tranche_counter",
    "totals",
    "wave_status",
    "progress",
    "merge_waves",
    "started",
    "with_progress",
]

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
WAVE_STATUSES = ("scheduled", "running", "done", "stopped")
_WAVE_COUNTER = re.compile(r"^(wave|tranche)_(\d{1,3})_credited_count$")


def wave_counter(wave: int) -> str:
    """Name of the per-wave counter of citizens credited (wave is 1-based)."""
    return f"wave_{wave}_credited_count"


def tranche_counter(tranche: int) -> str:
    """Name of the per-tranche counter of credits (tranche is 1-based)."""
    return f"tranche_{tranche}_credited_count"


def _check(name: str, value: int) -> None:
    if name not in COUNTERS and not _WAVE_COUNTER.match(name):
        raise ValueError(f"unknown progress counter {name!r}; one of {', '.join(COUNTERS)}, "
                         "wave_<n>_credited_count or tranche_<n>_credited_count")
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


def wave_status(runs: Iterable[RunModel], tranches: int) -> str:
    """Status of one wave from its credit runs.

    stopped: a run stopped (budget exhausted); scheduled: no tranche began;
    done: every tranche's run is done; running otherwise, including while a
    later tranche waits for its date.
    """
    statuses = [run.status for run in runs]
    if "stopped" in statuses:
        return "stopped"
    if not statuses:
        return "scheduled"
    if len(statuses) >= tranches and all(s == "done" for s in statuses):
        return "done"
    return "running"


def progress(phase_id: str, wave_count: int, tranche_count: int) -> dict[str, Any]:
    """The progress fields of ``GET /v1/admin/phases/{id}``.

    Returns the top-level counters, ``waves`` (one entry per wave with
    ``wave``, ``status`` and ``credited_count``; the caller merges them into
    the saved wave definitions) and ``stopped_reason`` when a wave stopped.
    """
    sums = totals(phase_id)
    runs = list(RunModel.query(phase_id, consistent_read=True))
    credit_runs: dict[int, list[RunModel]] = {}
    reasons = []
    for run in runs:
        if run.op == "credit":
            credit_runs.setdefault(int(run.wave), []).append(run)
        if run.status == "stopped" and run.stopped_reason:
            reasons.append(run.stopped_reason)
    body: dict[str, Any] = {name: sums.get(name, 0) for name in COUNTERS}
    body["waves"] = [
        {
            "wave": wave,
            "status": wave_status(credit_runs.get(wave, []), tranche_count),
            "credited_count": sums.get(wave_counter(wave), 0),
        }
        for wave in range(1, wave_count + 1)
    ]
    if reasons:
        body["stopped_reason"] = reasons[0]
    return body


def merge_waves(definitions: list[Mapping[str, Any]], progress_waves: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each saved wave definition with its progress fields added."""
    return [{**dict(d), **dict(p)} for d, p in zip(definitions, progress_waves)]


def started(phase_id: str) -> bool:
    """Whether a wave of the phase has begun crediting (a credit run exists):
    from then on the fields that shape issued money are frozen (409)."""
    for _run in RunModel.query(phase_id, RunModel.run_key.startswith("credit#"), consistent_read=True, limit=1):
        return True
    return False


def with_progress(phase_id: str, definition: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``GET /v1/admin/phases/{id}``: the saved definition plus
    ``phase_id`` and the progress fields (API.md), each wave entry with
    ``wave``, ``status`` and ``credited_count``."""
    waves = list(definition.get("waves") or [])
    tranches = len(definition.get("tranches") or []) or 1
    shown = progress(phase_id, len(waves), tranches)
    body = {**dict(definition), "phase_id": phase_id, **{k: v for k, v in shown.items() if k != "waves"}}
    body["waves"] = merge_waves(waves, shown["waves"])
    return body
