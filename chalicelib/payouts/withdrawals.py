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
from chalicelib.ledger import InsufficientFundsError, Ledger, TransferMismatchError, accounts
from chalicelib.merchants.rules import check_may_cash_out, exceeds_withdrawable
from chalicelib.merchants.service import get_merchant
from chalicelib.pagination import decode_cursor, encode_cursor
from chalicelib.payouts.exceptions import PayoutNotFoundError
from chalicelib.payouts.models import PayoutModel
from chalicelib.payouts.rules import Creditor
from chalicelib.payouts.steps import NewPayout, get_payout, hold
from chalicelib.payouts.views import withdrawal_body
from chalicelib.switches import check_switch

__all__ = ["WithdrawalResult", "withdraw", "get_withdrawal", "list_withdrawals", "owner_key_of"]

RESPONSE_FIELDS = ("withdrawal_id", "status", "amount_satang", "bank_code")


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
    payout = NewPayout(payout_id, "withdrawal", merchant.bank_code, amount_satang,
                       accounts.merchant_withdrawable(merchant_id), owner_key_of(merchant_id),
                       Creditor(merchant.name, "account_no", account_no), get_settings().bank_timeout_hours)
    try:
        posted = hold(ledger, payout, now(), fingerprint=fingerprint, details=body)
    except InsufficientFundsError as exc:
        error = exceeds_withdrawable(amount_satang, int((exc.item or {}).get("balance_satang") or 0))
        error.__cause__ = exc
        return _replay(payout_id, fingerprint, error, ledger)
    return WithdrawalResult({k: posted.record.details.get(k) for k in RESPONSE_FIELDS},
                            replayed=not posted.created)


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
