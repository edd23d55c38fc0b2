"""The seam activation calls for a ``cash_transfer`` phase: one payout per
accepted citizen, to their PromptPay id (their national ID) through the
phase's ``payout_bank_code``, from the phase's treasury, exactly once.

``pay_cash_transfer`` holds the amount from a treasury shard into the
bank's in-flight account with the payout record (``pending``) in one
transaction; the dispatcher sends it with the bank's other payouts and the
status handler settles it or, on ``RJCT``, returns it to that shard. The
payout id is derived from the phase, the tranche and the citizen's keyed
hash, so a second call (a redelivered activation message, an overlapping
run) finds the first and moves nothing.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.clock import utcnow
from chalicelib.config import get_settings
from chalicelib.ledger import InsufficientFundsError, Ledger, TransferMismatchError, accounts
from chalicelib.payouts.models import PayoutModel
from chalicelib.payouts.rules import Creditor
from chalicelib.payouts.steps import NewPayout, hold
from chalicelib.payouts.views import payout_body

__all__ = ["BUDGET_EXHAUSTED", "CREDITOR_NAME", "CashTransferResult", "cash_transfer_id", "pay_cash_transfer",
           "citizen_payouts"]

# PromptPay resolves the account holder from the id; the program holds no name.
CREDITOR_NAME = "PromptPay recipient"
PAYOUT_ID_HASH_CHARS = 32
BUDGET_EXHAUSTED = "budget_exhausted"


@dataclass(frozen=True)
class CashTransferResult:
    payout_id: str
    status: str  # held (now or before) | budget_exhausted
    created: bool


def cash_transfer_id(phase_id: str, citizen_hash: str, tranche: int = 1) -> str:
    """The payout of one citizen's tranche (1-based) of a phase, for ever."""
    digest = hashlib.sha256(f"{phase_id}\n{tranche}\n{citizen_hash}".encode()).hexdigest()
    return f"ct_{digest[:PAYOUT_ID_HASH_CHARS]}"


def _first_shard(payout_id: str, shards: int) -> int:
    return int(hashlib.sha256(payout_id.encode()).hexdigest()[:8], 16) % shards


def pay_cash_transfer(*, phase_id: str, citizen_hash: str, promptpay_id: str, amount_satang: int, bank_code: str,
                      tranche: int = 1, timeout_hours: int | None = None, ledger: Ledger | None = None,
                      now: datetime | None = None, treasury_shards: int | None = None,
                      look_first: bool = True, counters: Mapping[str, int] | None = None) -> CashTransferResult:
    """Hold one citizen's cash transfer, once. A treasury shard that cannot
    cover it hands it to the next; when none can, the budget is exhausted
    (nothing is written). ``look_first=False`` spares the read when the
    caller looked already (a batch read): the ledger's condition still
    refuses a second hold. ``counters`` are added to the paying treasury
    shard in the hold's own transaction (the phase's progress)."""
    ledger = ledger or Ledger()
    settings = get_settings()
    shards = treasury_shards or settings.treasury_shards
    payout_id = cash_transfer_id(phase_id, citizen_hash, tranche)
    if look_first and ledger.get_transfer(payout_id) is not None:
        return CashTransferResult(payout_id, "held", created=False)
    first = _first_shard(payout_id, shards)
    for step in range(shards):
        source = accounts.treasury_shard(phase_id, (first + step) % shards)
        payout = NewPayout(payout_id, "cash_transfer", bank_code, amount_satang, source, f"citizen:{citizen_hash}",
                           Creditor(CREDITOR_NAME, "promptpay_id", promptpay_id),
                           timeout_hours or settings.bank_timeout_hours, phase_id=phase_id)
        try:
            posted = hold(ledger, payout, now or utcnow(), source_counters=counters)
        except InsufficientFundsError:
            continue
        except TransferMismatchError:
            # A racing call held it first, from another shard.
            existing = ledger.get_transfer(payout_id)
            if existing is not None and existing.kind == "cash_transfer":
                return CashTransferResult(payout_id, "held", created=False)
            raise
        return CashTransferResult(payout_id, "held", created=posted.created)
    return CashTransferResult(payout_id, BUDGET_EXHAUSTED, created=False)


def citizen_payouts(citizen_hash: str) -> dict[str, dict[str, Any]]:
    """phase_id -> the citizen's payout of that phase (``GET /v1/me``)."""
    out: dict[str, dict[str, Any]] = {}
    for item in PayoutModel.owner_index.query(f"citizen:{citizen_hash}"):
        body = payout_body(item)
        out[item.phase_id or ""] = {k: body[k] for k in ("payout_id", "status", "amount_satang", "reason")
                                    if k in body}
    return out
