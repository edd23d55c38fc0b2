"""The money steps of a payout (BANKS.md), each one atomic, idempotent
ledger transfer with the payout record's change in the same transaction:

1. ``hold``: source -> ``in_flight:<bank>:<shard>``, the payout record put
   (``pending``) with ``attribute_not_exists``. The ledger's transfer id is
   the payout id, so a retry moves nothing and returns the first record.
2. ``mark_sent``: the instruction is on the bank's queue (no money moves):
   ``pending -> sent``, with the time after which it is due for inquiry.
3. ``settle`` (``ACSC``): in flight -> ``paid_out:<bank>:<shard>``;
   ``reject`` (``RJCT``): in flight -> back to the source. The record's
   status changes on condition that it is not final, in the transaction
   that resolves the hold (which itself resolves once).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib import db, observability, pii
from chalicelib.clock import iso, parse_iso
from chalicelib.ledger import ExtraWrite, Ledger, Posted, Transfer, accounts
from chalicelib.payouts.models import PayoutModel
from chalicelib.payouts.rules import PENDING, REJECTED, SENT, SETTLED, Creditor, business_date, shard_of

UNSPECIFIED_REASON = "unspecified"
# The dashboard's "Payouts by bank and status" (infra/observability.py):
# counted where each step is made, once (a replay counts nothing).
PAYOUTS_METRIC = "Payouts"


def count_payouts(bank_code: str, status: str, how_many: int = 1) -> None:
    """``Payouts`` by ``Bank`` and ``Status``: held, sent, settled, rejected, inquiry."""
    if how_many:
        observability.count(PAYOUTS_METRIC, how_many, Bank=bank_code, Status=status)

__all__ = ["UNSPECIFIED_REASON", "PAYOUTS_METRIC", "count_payouts", "NewPayout",
           "hold", "mark_sent", "settle", "reject", "flag_inquiry", "creditor_of",
           "get_payout"]


@dataclass(frozen=True)
class NewPayout:
    payout_id: str
    kind: str
    bank_code: str
    amount_satang: int
    source_account: str
    owner_key: str
    creditor: Creditor
    timeout_hours: int
    phase_id: str | None = None


def hold(ledger: Ledger, payout: NewPayout, now: datetime, *, fingerprint: str | None = None,
         details: Mapping[str, Any] | None = None, source_counters: Mapping[str, int] | None = None,
         linked: Sequence[Transfer] = ()) -> Posted:
    """Step 1. Raises the ledger's InsufficientFundsError (nothing written)
    when the source does not cover the amount, TransferMismatchError when
    the id was used for another payout."""
    shard = shard_of(payout.payout_id)
    hold_account = accounts.in_flight(payout.bank_code, shard)
    created_at = iso(now)
    record = PayoutModel(
        payout.payout_id, kind=payout.kind, bank_code=payout.bank_code, amount_satang=payout.amount_satang,
        status=PENDING, inquiry=False, created_at=created_at, list_sort=f"{created_at}#{payout.payout_id}",
        source_account=payout.source_account, hold_account=hold_account, owner_key=payout.owner_key,
        phase_id=payout.phase_id, creditor_name=payout.creditor.name, creditor_id_kind=payout.creditor.id_kind,
        creditor_id_enc=pii.encrypt(payout.creditor.id_value, context=f"payout:{payout.payout_id}"),
        timeout_hours=payout.timeout_hours, dispatch_bank=payout.bank_code)
    transfer = Transfer(payout.payout_id, payout.source_account, hold_account, payout.amount_satang, payout.kind,
                        fingerprint=fingerprint, details=details, debit_counters=source_counters)
    put = ExtraWrite("payout", record, PayoutModel.payout_id.does_not_exist())
    posted = ledger.hold(transfer, post_to=accounts.paid_out(payout.bank_code, shard), extra=[put], linked=linked)
    if posted.created:
        count_payouts(payout.bank_code, "held")
    return posted


def creditor_of(item: PayoutModel) -> Creditor:
    return Creditor(item.creditor_name, item.creditor_id_kind,
                    pii.decrypt(item.creditor_id_enc, context=f"payout:{item.payout_id}"))


def get_payout(payout_id: str) -> PayoutModel | None:
    try:
        return PayoutModel.get(payout_id, consistent_read=True)
    except PayoutModel.DoesNotExist:
        return None


def mark_sent(item: PayoutModel, msg_id: str, now: datetime) -> bool:
    """Step 2; False when the payout was no longer pending (a bank that
    answered before the mark, or another dispatcher)."""
    timeout_at = iso(now + timedelta(hours=int(item.timeout_hours)))
    try:
        PayoutModel(item.payout_id).update(
            actions=[PayoutModel.status.set(SENT), PayoutModel.sent_at.set(iso(now)), PayoutModel.msg_id.set(msg_id),
                     PayoutModel.timeout_at.set(timeout_at), PayoutModel.awaiting_bank.set(item.bank_code),
                     PayoutModel.dispatch_bank.remove()],
            condition=PayoutModel.status == PENDING)
    except UpdateError as exc:
        if db.condition_failed(exc):
            return False
        raise
    return True


def _resolution(item: PayoutModel, status: str, when: str, reason: str | None) -> ExtraWrite:
    actions = [PayoutModel.status.set(status), PayoutModel.dispatch_bank.remove(), PayoutModel.awaiting_bank.remove()]
    if status == SETTLED:
        day = business_date(when)
        actions += [PayoutModel.settled_at.set(when), PayoutModel.business_date.set(day),
                    PayoutModel.settled_key.set(f"{item.bank_code}#{day}")]
    else:
        actions.append(PayoutModel.reason.set(reason or UNSPECIFIED_REASON))
    return ExtraWrite("payout", PayoutModel(item.payout_id), PayoutModel.status.is_in(PENDING, SENT), actions)


def settle(ledger: Ledger, item: PayoutModel, settled_at: str | None, now: datetime) -> Posted:
    """Step 3, ``ACSC``. Raises the ledger's PendingStateError when the hold
    was voided (a contradiction): nothing moves then."""
    when = iso(parse_iso(settled_at)) if settled_at else iso(now)
    return ledger.settle(item.payout_id, {"settled_at": when},
                         extra=[_resolution(item, SETTLED, when, None)])


def reject(ledger: Ledger, item: PayoutModel, reason: str | None, now: datetime) -> Posted:
    """Step 3, ``RJCT``: the money goes back to the source."""
    when = iso(now)
    return ledger.void(item.payout_id, {"reason": reason or UNSPECIFIED_REASON},
                       extra=[_resolution(item, REJECTED, when, reason)])


def flag_inquiry(item: PayoutModel) -> bool:
    """No word from the bank in time: flag it (never reverse it). False when
    it was answered or flagged meanwhile."""
    try:
        PayoutModel(item.payout_id).update(
            actions=[PayoutModel.inquiry.set(True), PayoutModel.awaiting_bank.remove()],
            condition=(PayoutModel.status == SENT) & PayoutModel.awaiting_bank.exists())
    except UpdateError as exc:
        if db.condition_failed(exc):
            return False
        raise
    return True
