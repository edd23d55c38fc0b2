"""The scheduled ledger check: the O(buckets) summary (the balances'
stream folded into aggregate items), published as metrics that an alarm
watches (infra/observability.py).

The summary counts whole transactions only (stream_summary), so what it
counts balances under traffic too; a transaction read in part is left out
and listed. The check reads the stream itself, and when something is off
reads it again, up to READINGS times, at least SETTLE_S apart: an operators'
alert is an imbalance of what is counted that stands still over two
readings in a row (money written outside a transfer), or a transaction
still read in part, by the same amount, in both (its other items never
came: written outside the ledger under a transaction's name). A payment
read in part in one reading is whole in the next, so a busy hour raises no
false alarm. The full scan is the auditor's offline check.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from chalicelib import alerts, functions, observability
from chalicelib.clock import utcnow
from chalicelib.ledger import accounts, stream_summary
from chalicelib.ledger.summary import summary

__all__ = ["check_ledger"]

logger = observability.component_logger()

READINGS = 3
# Longer than a committed change takes to reach the stream.
SETTLE_S = 2 * stream_summary.STREAM_DELAY_S


@dataclass(frozen=True)
class _Reading:
    off_satang: int  # funded - held, of what is counted
    negative: int
    partial: dict[str, int] = field(default_factory=dict)  # transaction read in part -> what it adds

    @property
    def clear(self) -> bool:
        return self.off_satang == 0 and self.negative == 0 and not self.partial


def _read() -> tuple[dict[str, Any], _Reading]:
    stream_summary.consume()
    result = summary()
    held = sum(int(result[bucket]) for bucket in accounts.SUMMARY_BUCKETS)
    return result, _Reading(int(result["funded_satang"]) - held, int(result["negative_accounts"]),
                            dict(result.get("partial") or {}))


def _standing(before: _Reading, now: _Reading) -> tuple[bool, dict[str, int]]:
    """What stood still from one reading to the next: whether the imbalance
    of what is counted (with the negative accounts) or the negative accounts
    stayed the same and non-zero, and the transactions read in part by the
    same amount in both."""
    stuck = {tx: amount for tx, amount in now.partial.items() if before.partial.get(tx) == amount}
    steady_off = (now.off_satang, now.negative) == (before.off_satang, before.negative) and now.off_satang != 0
    steady_negative = now.negative != 0 and now.negative == before.negative
    return steady_off or steady_negative, stuck


def check_ledger() -> dict[str, Any]:
    """Summarize the ledger and publish ``LedgerImbalanceSatang`` (|funded -
    held| of what is counted, and of any transaction stuck in part; 0 when
    balanced) and ``LedgerNegativeAccounts``. What stands still over two
    readings in a row is also an operators' alert (GET /v1/admin/alerts)."""
    result, reading = _read()
    imbalance = abs(reading.off_satang)
    for _next in range(READINGS - 1):
        if reading.clear:
            break
        time.sleep(SETTLE_S)  # a change committed before the first reading is in the stream now
        before = reading
        result, reading = _read()
        broken, stuck = _standing(before, reading)
        imbalance = abs(reading.off_satang - sum(stuck.values()))
        if broken or stuck:
            alerts.raise_alert("ledger_imbalance", utcnow().strftime("%Y-%m-%dT%H"), {
                "imbalance_satang": imbalance, "negative_accounts": reading.negative,
                "partial_transactions": len(stuck)})
            break
    balanced = bool(result["balanced"]) and imbalance == 0
    observability.count("LedgerChecks")
    observability.count("LedgerImbalanceSatang", imbalance)
    observability.count("LedgerNegativeAccounts", reading.negative)
    log = logger.info if balanced else logger.error
    log("ledger check", extra={"balanced": balanced, "imbalance_satang": imbalance,
                               "negative_accounts": reading.negative,
                               "partial_transactions": len(reading.partial)})
    return {"balanced": balanced, "imbalance_satang": imbalance, "negative_accounts": reading.negative}


def read_ledger_stream(context: Any = None) -> stream_summary.ConsumeStats:
    """One pass of the stream reader (the scheduled function), within the
    invocation's time left; publishes ``LedgerSummaryLagSeconds`` (how far
    behind the summary's ``as_of`` is), which an alarm watches."""
    stats = stream_summary.consume(functions.time_left(context))
    lag = summary()["lag_s"]
    observability.count("LedgerSummaryRecords", stats.records)
    if lag is not None:
        observability.count("LedgerSummaryLagSeconds", float(lag))
    return stats
