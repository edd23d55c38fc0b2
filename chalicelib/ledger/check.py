"""The scheduled ledger check: the O(buckets) summary (the balances'
stream folded into aggregate items), published as metrics that an alarm
watches (infra/observability.py).

Under traffic a payment can be counted in part (its debit's shard read, its
credit's not yet), so the check reads the stream itself first and, when the
summary is off, reads it again, up to READINGS times: an imbalance that
stands still over two readings in a row is an operators' alert. A break
(money written outside a transfer) stays the same from one reading to the
next; what a payment counted in part adds moves with the traffic, so a busy
hour does not raise a false alarm. The full scan is the auditor's offline
check.
"""
from __future__ import annotations

from typing import Any

from chalicelib import alerts, observability
from chalicelib.clock import utcnow
from chalicelib.ledger import accounts, stream_summary
from chalicelib.ledger.summary import summary

__all__ = ["check_ledger"]

logger = observability.component_logger()

READINGS = 3


def _imbalance(result: dict[str, Any]) -> int:
    held = sum(int(result[bucket]) for bucket in accounts.SUMMARY_BUCKETS)
    return abs(int(result["funded_satang"]) - held)


def check_ledger() -> dict[str, Any]:
    """Summarize the ledger and publish ``LedgerImbalanceSatang`` (|funded -
    held|, 0 when balanced) and ``LedgerNegativeAccounts``. An imbalance seen
    that stands still over two readings in a row is also an operators'
    alert (GET /v1/admin/alerts)."""
    stream_summary.consume()
    result = summary()
    imbalance = _imbalance(result)
    for _reading in range(READINGS - 1):
        if result["balanced"]:
            break
        before = (imbalance, int(result["negative_accounts"]))
        stream_summary.consume()  # payments counted in part in one reading are whole in the next
        result = summary()
        imbalance = _imbalance(result)
        if not result["balanced"] and (imbalance, int(result["negative_accounts"])) == before:
            alerts.raise_alert("ledger_imbalance", utcnow().strftime("%Y-%m-%dT%H"), {
                "imbalance_satang": imbalance, "negative_accounts": int(result["negative_accounts"])})
            break
    observability.count("LedgerChecks")
    observability.count("LedgerImbalanceSatang", imbalance)
    observability.count("LedgerNegativeAccounts", int(result["negative_accounts"]))
    log = logger.info if result["balanced"] else logger.error
    log("ledger check", extra={"balanced": result["balanced"], "imbalance_satang": imbalance,
                               "negative_accounts": result["negative_accounts"]})
    return {"balanced": result["balanced"], "imbalance_satang": imbalance,
            "negative_accounts": result["negative_accounts"]}


def read_ledger_stream(context: Any = None) -> stream_summary.ConsumeStats:
    """One pass of the stream reader (the scheduled function), within the
    invocation's time left; publishes ``LedgerSummaryLagSeconds`` (how far
    behind the summary's ``as_of`` is), which an alarm watches."""
    time_left = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        def time_left() -> float:
            return float(context.get_remaining_time_in_millis()) / 1000
    stats = stream_summary.consume(time_left)
    lag = summary()["lag_s"]
    observability.count("LedgerSummaryRecords", stats.records)
    if lag is not None:
        observability.count("LedgerSummaryLagSeconds", float(lag))
    return stats
