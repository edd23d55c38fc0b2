"""A citizen's wallet as the citizen sees it: status, balance, history.

The wallet is named by the benefit item (one per citizen, for ever); its
money is the ledger account ``wallet:<wallet_id>``, which the first credit
of activation creates with ``status`` and ``expires_at``. Until then the
wallet is ``pending`` and activates with the citizen's wave.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.clock import iso, parse_iso
from chalicelib.eligibility import PhaseRules
from chalicelib.errors import NotFoundError
from chalicelib.ledger import Ledger, TransferRecord, accounts
from chalicelib.limits import PAGE_SIZE_MAX
from chalicelib.registration.models import BenefitModel
from chalicelib.transactions import transactions_page

__all__ = [
    "find_wallet",
    "wallet_view",
    "wallet_transactions",
    "wallet_status",
    "WaitingReason",
    "WALLET_HISTORY_PAGES_MAX",
]

# credited/spent are summed over the wallet's history. A wallet has one
# credit per tranche and one transfer per purchase: 50 pages of 100 cover
# 5,000 purchases in the 180 days a wallet lives, far above real use, and
# bound the cost of one GET.
WALLET_HISTORY_PAGES_MAX = 50

PENDING = "pending"
WAITING_CREDITING = "crediting"
# Why a wallet whose wave's time has come waits (activation knows: the API
# layer passes its answer in), from (phase_id, wave).
WaitingReason = Callable[[str, int], str]
ACTIVE = "active"
EXPIRED = "expired"
_CREDIT_SOURCES = {accounts.AccountKind.TREASURY}
_SPEND_TARGETS = {accounts.AccountKind.MERCHANT_SPENDABLE, accounts.AccountKind.MERCHANT_WITHDRAWABLE}


def find_wallet(citizen_hash: str) -> BenefitModel:
    """The benefit holding a wallet, or NotFoundError (not registered,
    rejected, or benefited in a cash-transfer phase, which has no wallet)."""
    try:
        benefit = BenefitModel.get(citizen_hash, consistent_read=True)
    except BenefitModel.DoesNotExist as exc:
        raise NotFoundError("No wallet yet: register for an open phase first.") from exc
    if not benefit.wallet_id:
        raise NotFoundError("This benefit is paid to a bank account; there is no wallet.")
    return benefit


def wallet_status(account_status: str | None, expires_at: str | None, now: datetime) -> str:
    """The status a citizen sees. An account past ``expires_at`` is expired
    even before the expiry sweep has moved its money back."""
    if account_status in (None, "", ACTIVE):
        if expires_at and parse_iso(expires_at) <= now:
            return EXPIRED
        return ACTIVE
    return account_status


def _counterparty_kind(record: TransferRecord, direction: str) -> accounts.AccountKind:
    return accounts.kind_of(record.debit_account if direction == "in" else record.credit_account)


def _totals(ledger: Ledger, history_key: str) -> tuple[int, int]:
    """(credited, spent) from the wallet's own transfers: a wallet has few,
    so this costs a page or two and needs no counter that every payment
    would have to keep up to date."""
    credited = spent = 0
    cursor = None
    for _ in range(WALLET_HISTORY_PAGES_MAX):
        page = ledger.history(history_key, limit=PAGE_SIZE_MAX, cursor=cursor)
        for record, direction in page.items:
            if record.state == "voided":
                continue
            kind = _counterparty_kind(record, direction)
            if direction == "in" and kind in _CREDIT_SOURCES:
                credited += record.amount_satang
            elif direction == "out" and kind in _SPEND_TARGETS:
                spent += record.amount_satang
        cursor = page.next_cursor
        if cursor is None:
            break
    return credited, spent


def wallet_view(benefit: BenefitModel, phase: PhaseRules | None, now: datetime,
                ledger: Ledger | None = None, waiting: WaitingReason | None = None) -> dict[str, Any]:
    """The body of ``GET /v1/wallet``."""
    ledger = ledger or Ledger()
    account_id = accounts.wallet_account(benefit.wallet_id)
    account = ledger.account(account_id)
    view: dict[str, Any] = {"wallet_id": benefit.wallet_id, "phase_id": benefit.phase_id}
    if account is None:
        view.update(status=PENDING, balance_satang=0, credited_satang=0, spent_satang=0)
        wave = int(benefit.wave or 1)
        activates_at = phase.activates_at(wave) if phase is not None else None
        if activates_at:
            view["activates_at"] = iso(parse_iso(activates_at))
            if parse_iso(activates_at) <= now:
                # crediting: accepted after the wave's time, credited within
                # about a minute; or why the wave stopped (budget_exhausted).
                view["waiting_reason"] = waiting(benefit.phase_id, wave) if waiting else WAITING_CREDITING
        return view
    credited, spent = _totals(ledger, accounts.history_key_of(account_id) or account_id)
    view.update(
        status=wallet_status(account.status, account.expires_at, now),
        balance_satang=int(account.balance_satang),
        credited_satang=credited,
        spent_satang=spent,
    )
    if account.expires_at:
        view["expires_at"] = account.expires_at
    return view


def wallet_transactions(wallet_id: str, limit: int, cursor: str | None = None,
                        ledger: Ledger | None = None) -> dict[str, Any]:
    """The body of ``GET /v1/wallet/transactions``: newest first."""
    account_id = accounts.wallet_account(wallet_id)
    return transactions_page(accounts.history_key_of(account_id) or account_id, limit, cursor, ledger)
