"""Progress of a phase: sharded counters, per-wave status, the API view.

``count(phase_id, **increments)`` is the one way any package moves a
counter (registration: registered/accepted/rejected; activation:
credited_*; expiry: expired_satang; payments: spent_satang). Money counters
must be moved only for ledger transfers that were created now, never for
replays, or they would count twice.
"""
from __future__ import annotations

import hashlib
import random
import re
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.operand import Path

from chalicelib import db
from chalicelib.activation.models import PhaseCounterModel, RunModel
from chalicelib.clock import iso
from chalicelib.ledger import AccountModel, TransferModel, accounts

__all__ = [
    "COUNTER_SHARDS",
    "COUNTERS",
    "WAVE_STATUSES",
    "count",
    "wave_counter",
    "tranche_counter",
    "SPEND_FEED_SHARDS",
    "SPEND_SETTLE_S",
    "spend_feed",
    "tally_spending",
    "spent_as_of",
    "totals",
    "wave_status",
    "progress",
    "merge_waves",
    "started",
    "with_progress",
]

# Keys of a phase's spending feed (the transfers index): a payment's record
# carries one, so that no index partition takes more than ~1,000 writes a
# second at the national payment peak.
SPEND_FEED_SHARDS = 16
# The spending tally reads a feed only up to this long before now: a
# payment's record is stamped before its transaction commits (a request
# gives up within 19 s) and the index shows it within about a second, so
# nothing older can still appear, and each payment is counted once.
SPEND_SETTLE_S = 60
# Pages of the feed one tally reads per shard and schedule run; the next run goes on.
SPEND_PAGES_MAX = 20
_TALLY_SHARD_BASE = 1000  # counter items of the tally: shards 1000.. (not count()'s 0..15)
_WATERMARK = "spent_watermark"

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


def _counter_items(phase_id: str) -> Iterable[dict[str, Any]]:
    # The raw items: the model declares only the keys, the counters are
    # dynamic attributes that a model read would drop.
    connection = PhaseCounterModel._get_connection()
    start = None
    while True:
        page = connection.query(phase_id, consistent_read=True, exclusive_start_key=start)
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def totals(phase_id: str) -> dict[str, int]:
    """Every counter of the phase, summed over its shards (one query)."""
    sums: dict[str, int] = dict.fromkeys(COUNTERS, 0)
    for item in _counter_items(phase_id):
        for name, typed in item.items():
            if name not in ("phase_id", "shard") and "N" in typed:
                sums[name] = sums.get(name, 0) + int(typed["N"])
    return sums


def spend_feed(phase_id: str, transfer_id: str) -> str:
    """The feed key a wallet payment's record carries."""
    digest = hashlib.blake2b(transfer_id.encode(), digest_size=2).digest()
    return spend_feed_key(phase_id, int.from_bytes(digest, "big") % SPEND_FEED_SHARDS)


def _tally_shard(phase_id: str, shard: int, cutoff: str) -> int:
    """Add the shard's payments stamped before ``cutoff`` that are not
    counted yet; the sum and the new watermark are one conditional write,
    so two tallies at once count each payment once."""
    key = _TALLY_SHARD_BASE + shard
    connection = PhaseCounterModel._get_connection()
    found = connection.get_item(phase_id, key, consistent_read=True).get("Item", {})
    watermark = found.get(_WATERMARK, {}).get("S", "")
    if watermark >= cutoff:
        return 0
    added, last = 0, watermark
    # "0" sorts before every RFC 3339 time: from the first payment on.
    results = TransferModel.feed_index.query(spend_feed_key(phase_id, shard),
                                             TransferModel.history_sort > (watermark or "0"),
                                             limit=SPEND_PAGES_MAX * 100, page_size=100)
    exhausted = True
    for count_read, record in enumerate(results, start=1):
        if record.history_sort >= cutoff:
            break
        added += int(record.amount_satang)
        last = record.history_sort
        if count_read >= SPEND_PAGES_MAX * 100:
            exhausted = False
            break
    new = cutoff if exhausted else last
    condition = Path(_WATERMARK).does_not_exist() if not watermark else Path(_WATERMARK) == watermark
    actions = [Path(_WATERMARK).set(new)] + ([Path("spent_satang").add(added)] if added else [])
    try:
        PhaseCounterModel(phase_id, key).update(actions=actions, condition=condition)
    except UpdateError as exc:
        if db.condition_failed(exc):
            return 0  # another tally counted these first
        raise
    return added


def spend_feed_key(phase_id: str, shard: int) -> str:
    return f"{phase_id}#spent#{shard:02d}"


def tally_spending(phase_id: str, now: datetime) -> int:
    """Count the phase's wallet payments into ``spent_satang``, off the
    payment path (the schedule calls it): exact up to ``spent_as_of``."""
    cutoff = iso(now - timedelta(seconds=SPEND_SETTLE_S))
    return sum(_tally_shard(phase_id, shard, cutoff) for shard in range(SPEND_FEED_SHARDS))


def spent_as_of(phase_id: str) -> str | None:
    """Up to when ``spent_satang`` counts every payment (None: not yet tallied)."""
    marks = [item[_WATERMARK]["S"] for item in _counter_items(phase_id) if _WATERMARK in item]
    if len(marks) < SPEND_FEED_SHARDS:
        return None
    return min(marks)


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
