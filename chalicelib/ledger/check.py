"""The scheduled ledger check: the summary of every balance, published as
metrics that an alarm watches (infra/observability.py).

A scan is not a snapshot: payments that commit while it runs can make a
moving ledger look off by what was in flight, so the alarm wants the
imbalance in several checks in a row before it calls it one.
"""
from __future__ import annotations

from typing import Any

from chalicelib import observability
from chalicelib.ledger import accounts
from chalicelib.ledger.summary import summary

__all__ = ["check_ledger"]

logger = observability.component_logger()


def check_ledger() -> dict[str, Any]:
    """Summarize the ledger and publish ``LedgerImbalanceSatang`` (|funded -
    held|, 0 when balanced) and ``LedgerNegativeAccounts``."""
    result = summary()
    held = sum(int(result[bucket]) for bucket in accounts.SUMMARY_BUCKETS)
    imbalance = abs(int(result["funded_satang"]) - held)
    observability.count("LedgerChecks")
    observability.count("LedgerImbalanceSatang", imbalance)
    observability.count("LedgerNegativeAccounts", int(result["negative_accounts"]))
    log = logger.info if result["balanced"] else logger.error
    log("ledger check", extra={"balanced": result["balanced"], "imbalance_satang": imbalance,
                               "negative_accounts": result["negative_accounts"]})
    return {"balanced": result["balanced"], "imbalance_satang": imbalance,
            "negative_accounts": result["negative_accounts"]}
