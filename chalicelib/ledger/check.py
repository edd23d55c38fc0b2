"""The scheduled ledger check: the summary of every balance, published as
metrics that an alarm watches (infra/observability.py).

A scan is not a snapshot: payments that commit while it runs can make a
moving ledger look off by what was in flight, so the alarm wants the
imbalance in several checks in a row before it calls it one.
"""
from __future__ import annotations

from typing import Any

from chalicelib import alerts, observability
from chalicelib.clock import utcnow
from chalicelib.ledger import accounts
from chalicelib.ledger.summary import summary

__all__ = ["check_ledger"]

logger = observability.component_logger()


def _imbalance(result: dict[str, Any]) -> int:
    held = sum(int(result[bucket]) for bucket in accounts.SUMMARY_BUCKETS)
    return abs(int(result["funded_satang"]) - held)


def check_ledger() -> dict[str, Any]:
    """Summarize the ledger and publish ``LedgerImbalanceSatang`` (|funded -
    held|, 0 when balanced) and ``LedgerNegativeAccounts``. An imbalance seen
    in two scans in a row is also an operators' alert (GET /v1/admin/alerts)."""
    result = summary()
    imbalance = _imbalance(result)
    if not result["balanced"]:
        result = summary()  # payments in flight during the first scan settle in the second
        imbalance = _imbalance(result)
        if not result["balanced"]:
            alerts.raise_alert("ledger_imbalance", utcnow().strftime("%Y-%m-%dT%H"), {
                "imbalance_satang": imbalance, "negative_accounts": int(result["negative_accounts"])})
    observability.count("LedgerChecks")
    observability.count("LedgerImbalanceSatang", imbalance)
    observability.count("LedgerNegativeAccounts", int(result["negative_accounts"]))
    log = logger.info if result["balanced"] else logger.error
    log("ledger check", extra={"balanced": result["balanced"], "imbalance_satang": imbalance,
                               "negative_accounts": result["negative_accounts"]})
    return {"balanced": result["balanced"], "imbalance_satang": imbalance,
            "negative_accounts": result["negative_accounts"]}
