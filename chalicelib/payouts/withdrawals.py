"""A shop cashes out (PROGRAM.md, Cash-out): ``POST /v1/withdrawals`` and
its reads.

Only an active, tax-compliant shop, only from ``withdrawable`` (money from
other shops), only to its registered bank account (the request names the
amount, nothing else): otherwise ``422 withdrawal_not_allowed`` with the
rule in ``details.reason``. The withdrawal id is the caller's
Idempotency-Key scoped to the caller; the hold's ledger record is the
idempotency record and holds the response, so a replay answers it again
and moves nothing. ``withdrawable`` can never be overdrawn, however many
withdrawals race: the hold's debit is conditional on the balance.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib import pii
from chalicelib.clock import utcnow
from chalicelib.config import get_settings
from chalicelib.errors import WalletError
from chalicelib.ledger import InsufficientFundsError, Ledger, Posted, TransferMismatchError, accounts
from chalicelib.merchants.rules import check_may_cash_out, exceeds_withdrawable
from chalicelib.merchants.service import balances_of, get_merchant
from chalicelib.merchants.shards import (
    SWEEP_KIND,
    draw_transfers,
    legs_that_fit,
    plan_draw,
    shard_accounts,
    shard_count,
    shard_suffix,
    sweep,
    total_of,
)
from chalicelib.pagination import decode_cursor, encode_cursor
from chalicelib.payouts.exceptions import PayoutNotFoundError
from chalicelib.payouts.models import PayoutModel
from chalicelib.payouts.rules import Creditor
from chalicelib.payouts.steps import NewPayout, get_payout, hold
from chalicelib.payouts.views import withdrawal_body
from chalicelib.switches import check_switch

__all__ = ["WithdrawalResult", "withdraw", "get_withdrawal", "list_withdrawals", "owner_key_of"]

RESPONSE_FIELDS = ("withdrawal_id", "status", "amount_satang", "bank_code")
# A sharded shop's withdrawal is planned from a read; a concurrent movement
# that made a leg short fails the write and the plan is made again.
DRAW_ATTEMPTS_MAX = 4


class WithdrawalResult:
    def __init__(self, body: dict[str, Any], replayed: bool) -> None:
        self.body = body
        self.replayed = replayed


def owner_key_of(merchant_id: str) -> str:
    return f"merchant:{merchant_id}"


def _replay(payout_id: str, fingerprint: str, error: WalletError, ledger: Ledger) -> WithdrawalResult:
    record = ledger.get_transfer(payout_id)
    if record is None:
        raise error
    if record.fingerprint != fingerprint:
        raise TransferMismatchError(payout_id, {}) from error
    return WithdrawalResult({k: record.details.get(k) for k in RESPONSE_FIELDS}, replayed=True)


def withdraw(merchant_id: str, payout_id: str, fingerprint: str, amount_satang: int, *,
             ledger: Ledger | None = None, now: Callable[[], datetime] = utcnow) -> WithdrawalResult:
    ledger = ledger or Ledger()
    try:
        merchant = get_merchant(merchant_id)
        check_switch("withdrawals", district=merchant.district, bank=merchant.bank_code)
        check_may_cash_out(merchant.status, bool(merchant.tax_compliant))
    except WalletError as exc:
        return _replay(payout_id, fingerprint, exc, ledger)
    body = {"withdrawal_id": payout_id, "status": "pending", "amount_satang": amount_satang,
            "bank_code": merchant.bank_code}
    account_no = pii.decrypt(merchant.account_no_enc, context=f"merchant:{merchant_id}")
    base = accounts.merchant_withdrawable(merchant_id)
    payout = NewPayout(payout_id, "withdrawal", merchant.bank_code, amount_satang,
                       base, owner_key_of(merchant_id),
                       Creditor(merchant.name, "account_no", account_no), get_settings().bank_timeout_hours)
    shards = shard_count(merchant.balance_shards)
    if shards == 1:
        # An ordinary shop: the hold's own condition on its one balance is
        # the whole check (no read first, the cost it always had).
        try:
            posted = hold(ledger, payout, now(), fingerprint=fingerprint, details=body)
        except InsufficientFundsError as exc:
            error = exceeds_withdrawable(amount_satang, int((exc.item or {}).get("balance_satang") or 0))
            error.__cause__ = exc
            return _replay(payout_id, fingerprint, error, ledger)
        return _result(posted)
    return _withdraw_sharded(merchant_id, payout, shards, fingerprint, body, ledger, now)


def _result(posted: Posted) -> WithdrawalResult:
    return WithdrawalResult({k: posted.record.details.get(k) for k in RESPONSE_FIELDS}, replayed=not posted.created)


def _withdraw_sharded(merchant_id: str, payout: NewPayout, shards: int, fingerprint: str, body: dict[str, Any],
                      ledger: Ledger, now: Callable[[], datetime]) -> WithdrawalResult:
    """A sharded shop's withdrawal: the shards read together, a plan of the
    fewest legs that cover it, and the hold on shard 0 with the other legs
    drawn into it in the same transaction (each leg conditional on its own
    balance, so a race never overdraws one). When a concurrent movement
    made a leg short, the shards are read and the plan made again."""
    shard_ids = shard_accounts(accounts.merchant_withdrawable, merchant_id, shards)
    error: WalletError | None = None
    for _ in range(DRAW_ATTEMPTS_MAX):
        have = balances_of(merchant_id, shards)
        legs = plan_draw(have, shard_ids, payout.amount_satang)
        if legs is None:
            error = exceeds_withdrawable(payout.amount_satang, total_of(have, shard_ids))
            break
        if len(legs) > legs_that_fit(ledger.item_limit):
            sweep(ledger, payout.payout_id, legs)
            continue
        linked = draw_transfers(payout.payout_id, legs, payout.source_account, SWEEP_KIND,
                                lambda account: f"draw.{shard_suffix(account)}")
        try:
            return _result(hold(ledger, payout, now(), fingerprint=fingerprint, details=body, linked=linked))
        except InsufficientFundsError as exc:
            error = exceeds_withdrawable(payout.amount_satang, total_of(have, shard_ids))
            error.__cause__ = exc
    if error is None:
        raise RuntimeError("a withdrawal made no attempt")
    return _replay(payout.payout_id, fingerprint, error, ledger)


def get_withdrawal(merchant_id: str, withdrawal_id: str) -> dict[str, Any]:
    item = get_payout(withdrawal_id)
    # Another shop's withdrawal is "not found": a 403 would tell it exists.
    if item is None or item.owner_key != owner_key_of(merchant_id):
        raise PayoutNotFoundError("withdrawal")
    return withdrawal_body(item)


def list_withdrawals(merchant_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    query = PayoutModel.owner_index.query(owner_key_of(merchant_id), scan_index_forward=False, limit=limit,
                                          last_evaluated_key=decode_cursor(cursor))
    items = [withdrawal_body(i) for i in query]
    last = query.last_evaluated_key
    return {"items": items, "next_cursor": encode_cursor(last) if last and items else None}
