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
from chalicelib.ledger import Ledger, accounts
from chalicelib.registration.models import BenefitModel
from chalicelib.transactions import transactions_page

__all__ = [
    "find_wallet",
    "wallet_view",
    "wallet_transactions",
    "wallet_status",
    "WaitingReason",
]

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


# What a citizen calls credited: money from the phase's treasury; spent:
# money paid to shops. Both are tallies of the wallet's one balance item,
# kept by the ledger in every posting (not summed over the history).
_CREDITED = accounts.tally_name("in", accounts.treasury_shard("p", 0))
_SPENT = (accounts.tally_name("out", accounts.merchant_spendable("m")),
          accounts.tally_name("out", accounts.merchant_withdrawable("m")))


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
    view.update(
        status=wallet_status(account.status, account.expires_at, now),
        balance_satang=int(account.balance_satang),
        credited_satang=account.tally(_CREDITED),
        spent_satang=sum(account.tally(name) for name in _SPENT),
    )
    if account.expires_at:
        view["expires_at"] = account.expires_at
    return view


def wallet_transactions(wallet_id: str, limit: int, cursor: str | None = None,
                        ledger: Ledger | None = None) -> dict[str, Any]:
    """The body of ``GET /v1/wallet/transactions``: newest first."""
    account_id = accounts.wallet_account(wallet_id)
    return transactions_page(accounts.history_key_of(account_id) or account_id, limit, cursor, ledger)
