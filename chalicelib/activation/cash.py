"""What a credit is for a ``cash_transfer`` phase: one payout per accepted
citizen and tranche, to their PromptPay id (the national ID, kept encrypted
on the registration) through the phase's ``payout_bank_code``, from the
phase's treasury, exactly once (chalicelib/payouts/cash_transfers.py).

Rolling activation is the wallets' own (a run's sweep of the by-wave index,
the marks of late registrants, the budget's stop and resume); only the
credit differs: ``CashTransferCrediter`` plugs into ``credit_bucket`` and
``credit_marked``. The payout id ``ct_<hash of phase, tranche, citizen>``
is the ledger's transfer id, so a redelivered message, overlapping runs, a
mark and a sweep, or a rerun after a crash between the hold and the mark's
removal hold each payout once. The dispatcher and the status handler then
treat it as any payout.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chalicelib import observability, pii
from chalicelib.activation.crediting import (
    Credited,
    Due,
    _default_ledger,
    _existing_transfers,
    pool_treasury,
)
from chalicelib.config import get_settings
from chalicelib.ledger import Ledger
from chalicelib.payouts.cash_transfers import BUDGET_EXHAUSTED, cash_transfer_id, pay_cash_transfer
from chalicelib.phases.counters import credit_counters
from chalicelib.registration.models import RegistrationModel, promptpay_context

__all__ = ["CashTransferCrediter"]

logger = observability.component_logger()
ACCEPTED = "accepted"


class CashTransferCrediter:
    """Cash-transfer payouts: one hold (one transaction) per citizen."""

    attributes: Sequence[str] = ("registration_key", "status", "citizen_hash", "promptpay_enc")

    def __init__(self, ledger: Ledger | None = None, shards: int | None = None) -> None:
        self.ledger = ledger or _default_ledger()
        self.shards = shards or get_settings().treasury_shards

    def _pay(self, due: Due, registration: RegistrationModel, bank_code: str) -> str:
        promptpay_id = pii.decrypt(registration.promptpay_enc or "", promptpay_context(registration.registration_key))
        result = pay_cash_transfer(phase_id=due.phase_id, citizen_hash=registration.citizen_hash,
                                   promptpay_id=promptpay_id, amount_satang=due.amount_satang, bank_code=bank_code,
                                   tranche=due.tranche, ledger=self.ledger, treasury_shards=self.shards,
                                   look_first=False,
                                   counters=credit_counters(due.wave, due.tranche, due.amount_satang))
        if result.status == BUDGET_EXHAUSTED:
            return BUDGET_EXHAUSTED
        return "created" if result.created else "existing"

    def __call__(self, due: Due, registrations: Sequence[RegistrationModel], now: datetime,
                 recheck: bool) -> Credited:
        done = Credited()
        if not due.bank_code:
            raise ValueError(f"cash_transfer phase {due.phase_id} has no payout_bank_code")
        payable = []
        for registration in registrations:
            if registration.status != ACCEPTED:
                continue
            if not registration.promptpay_enc:
                # Registered before cash transfers kept the PromptPay id: it
                # cannot be paid, and is not served (stays counted uncredited).
                logger.error("accepted cash_transfer registration without a PromptPay id",
                             extra={"phase_id": due.phase_id})
                continue
            payable.append(registration)
        ids = {r.registration_key: cash_transfer_id(due.phase_id, r.citizen_hash, due.tranche) for r in payable}
        existing = _existing_transfers(list(ids.values())) if recheck else set()
        exhausted = False
        for registration in payable:
            key = registration.registration_key
            if ids[key] in existing:
                done.served.add(key)
                continue
            if exhausted:
                done.unfunded.add(key)
                continue
            outcome = self._pay(due, registration, due.bank_code)
            if outcome == BUDGET_EXHAUSTED:
                # The shards together may still cover it: pool them, once.
                pool_treasury(self.ledger, due.phase_id, self.shards)
                outcome = self._pay(due, registration, due.bank_code)
            if outcome == BUDGET_EXHAUSTED:
                exhausted = True  # the rest of the group waits with it
                done.unfunded.add(key)
                continue
            done.served.add(key)
            if outcome == "created":
                done.created += 1
                done.satang += due.amount_satang
        return done
