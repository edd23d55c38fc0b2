"""Progress of a phase: sharded counters, per-wave status, the API view.

``count(phase_id, **increments)`` is the one way any package moves a
counter (registration: registered/accepted/rejected; activation:
credited_*; expiry: expired_satang; payments: spent_satang). Money counters
must be moved only for ledger transfers that were created now, never for
replays, or they would count twice.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.activation.models import RunModel, run_key
from chalicelib.ledger import AccountModel, accounts
from chalicelib.phases.counters import (
    COUNTER_SHARDS,
    COUNTERS,
    count,
    spent_as_of,
    totals,
    tranche_counter,
    wave_counter,
)

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
    "waiting_reason",
]

WAVE_STATUSES = ("scheduled", "running", "done", "stopped")
WAITING_CREDITING = "crediting"


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


def _returned_satang(phase_id: str) -> int:
    """What expiry gave back to the phase's treasury: the ledger's own
    ``returned`` account (only expiry credits it), exact by construction."""
    try:
        return int(AccountModel.get(accounts.returned(phase_id), consistent_read=True).balance_satang or 0)
    except AccountModel.DoesNotExist:
        return 0


def progress(phase_id: str, wave_count: int, tranche_count: int) -> dict[str, Any]:
    """The progress fields of ``GET /v1/admin/phases/{id}``.

    Returns the top-level counters (``credited_count``: citizens credited,
    ``credits_per_tranche`` beside it; ``spent_satang`` as tallied off the
    payment path up to ``spent_as_of``; ``expired_satang`` from the ledger),
    ``waves`` (one entry per wave with ``wave``, ``status``,
    ``credited_count`` and, when stopped, ``stopped_reason``; the caller
    merges them into the saved wave definitions) and ``stopped_reason``
    when a wave stopped.
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
    body["expired_satang"] = _returned_satang(phase_id)
    body["spent_as_of"] = spent_as_of(phase_id)
    body["uncredited_count"] = max(0, body["accepted"] - body["credited_count"])
    body["credits_per_tranche"] = [{"tranche": k, "credited_count": sums.get(tranche_counter(k), 0)}
                                   for k in range(1, tranche_count + 1)]
    waves = []
    for wave in range(1, wave_count + 1):
        entry: dict[str, Any] = {"wave": wave, "status": wave_status(credit_runs.get(wave, []), tranche_count),
                                 "credited_count": sums.get(wave_counter(wave), 0)}
        stopped = [r.stopped_reason for r in credit_runs.get(wave, []) if r.status == "stopped" and r.stopped_reason]
        if stopped:
            entry["stopped_reason"] = stopped[0]
        waves.append(entry)
    body["waves"] = waves
    if reasons:
        body["stopped_reason"] = reasons[0]
    return body


def waiting_reason(phase_id: str, wave: int) -> str:
    """Why a wallet whose wave's time has come is still pending:
    ``budget_exhausted`` (its wave stopped; a raised budget resumes it) or
    ``crediting`` (accepted after the wave's time: credited within about a
    minute, by the schedule)."""
    try:
        run = RunModel.get(phase_id, run_key("credit", wave, 1), consistent_read=True)
    except RunModel.DoesNotExist:
        return WAITING_CREDITING
    if run.status == "stopped" and run.stopped_reason:
        return str(run.stopped_reason)
    return WAITING_CREDITING


def merge_waves(definitions: list[Mapping[str, Any]], progress_waves: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each saved wave definition with its progress fields added."""
    return [{**dict(d), **dict(p)} for d, p in zip(definitions, progress_waves, strict=True)]


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
