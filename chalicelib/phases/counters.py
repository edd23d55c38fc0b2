"""A phase's progress counters: sharded, moved by ADD, summed on read.

``count(phase_id, **increments)`` is the one way any package moves a
counter (registration: registered/accepted/rejected; activation:
credited_*; expiry: expired_satang) and the tally of a phase's wallet
payments (``tally_spending``: spent_satang, off the payment path). They live with the phase, below
registration and activation, so that both count without importing each
other. Money counters must be moved only for ledger transfers that were
created now, never for replays, or they would count twice.
"""
from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from chalicelib import db
from chalicelib.clock import iso
from chalicelib.config import get_settings
from chalicelib.ledger import AccountModel, TransferModel, accounts
from chalicelib.phases.models import PhaseCounterModel

__all__ = ["COUNTER_SHARDS", "COUNTERS", "SPEND_FEED_SHARDS", "SPEND_SETTLE_S", "count", "totals", "wave_counter",
           "tranche_counter", "spend_feed", "spend_feed_key", "credit_counters", "tally_spending", "spent_as_of"]

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
    # cash_transfer phases: payouts the bank rejected, their money back in
    # the treasury (moved by the status handler, once per rejection).
    "payouts_rejected_count",
    "payouts_returned_satang",
)
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


def credit_counters(wave: int, tranche: int, amount_satang: int) -> dict[str, int]:
    """What one credit of ``tranche`` to a citizen of ``wave`` adds to the
    phase's progress: kept on the treasury shard that pays it, in the
    credit's own transaction (ledger BatchCredit.source_counters), so that
    a crash right after the transaction cannot leave the counters short."""
    citizens = 1 if tranche == 1 else 0
    moves = {"credited_count": citizens, "credited_satang": amount_satang, wave_counter(wave): citizens,
             tranche_counter(tranche): 1}
    for name, value in moves.items():
        _check(name, value)
    return {name: value for name, value in moves.items() if value}


def _treasury_items(phase_id: str, shards: int) -> Iterator[dict[str, Any]]:
    """The raw balance items of the phase's treasury shards (one consistent
    BatchGet), whose counters a model read would drop."""
    table = db.table_name(AccountModel)
    keys: list[dict[str, Any]] = [{"account_id": {"S": accounts.treasury_shard(phase_id, i)}} for i in range(shards)]
    budget = db.RetryBudget("treasury_counters")
    while keys:
        page = db.dynamodb_client().batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
        yield from page.get("Responses", {}).get(table, [])
        left = page.get("UnprocessedKeys", {}).get(table)
        keys = list(left["Keys"]) if left else []
        if keys:
            budget.wait()


def _counter_items(phase_id: str) -> Iterator[dict[str, Any]]:
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
    """Every counter of the phase, summed over its shards (one query) and
    over its treasury shards' credit counters (one BatchGet)."""
    sums: dict[str, int] = dict.fromkeys(COUNTERS, 0)
    for item in _counter_items(phase_id):
        for name, typed in item.items():
            if name not in ("phase_id", "shard") and "N" in typed:
                sums[name] = sums.get(name, 0) + int(typed["N"])
    for item in _treasury_items(phase_id, get_settings().treasury_shards):
        for name, typed in item.items():
            if (name in COUNTERS or _WAVE_COUNTER.match(name)) and "N" in typed:
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
    found = connection.get_item(phase_id, key, consistent_read=True).get("Item", {})  # type: ignore[arg-type]  # a number range key
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
    actions: list[Action] = [Path(_WATERMARK).set(new)]
    if added:
        actions.append(Path("spent_satang").add(added))
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
    marks = [str(item[_WATERMARK]["S"]) for item in _counter_items(phase_id) if _WATERMARK in item]
    if len(marks) < SPEND_FEED_SHARDS:
        return None
    return min(marks)
