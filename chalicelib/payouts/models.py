"""The payout record: one item per withdrawal or cash transfer, beside the
ledger's transfers that move its money. Its bank account number or
PromptPay id is stored encrypted only (chalicelib.pii, bound to the payout id).

Sparse indexes find the work of each step without a scan:
- ``dispatch-index`` (``dispatch_bank``, set while ``pending``): what the
  dispatcher sends to a bank, oldest first;
- ``awaiting-index`` (``awaiting_bank``, ``timeout_at``, set while ``sent``
  and not yet flagged): what has waited too long for the bank's word;
- ``settled-index`` (``settled_key`` = ``<bank>#<business date>``): what a
  bank's statement and the day's net settlement are matched against;
- ``owner-index`` (``owner_key``): a shop's withdrawals, newest first;
- ``bank-index`` (``bank_code``): the operators' list, newest first.
"""
from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["PayoutModel"]


class _DispatchIndex(GlobalSecondaryIndex["PayoutModel"]):
    class Meta:
        index_name = "dispatch-index"
        projection = AllProjection()

    dispatch_bank = UnicodeAttribute(hash_key=True)
    list_sort = UnicodeAttribute(range_key=True)


class _AwaitingIndex(GlobalSecondaryIndex["PayoutModel"]):
    class Meta:
        index_name = "awaiting-index"
        projection = AllProjection()

    awaiting_bank = UnicodeAttribute(hash_key=True)
    timeout_at = UnicodeAttribute(range_key=True)


class _SettledIndex(GlobalSecondaryIndex["PayoutModel"]):
    class Meta:
        index_name = "settled-index"
        projection = AllProjection()

    settled_key = UnicodeAttribute(hash_key=True)
    payout_id = UnicodeAttribute(range_key=True)


class _OwnerIndex(GlobalSecondaryIndex["PayoutModel"]):
    class Meta:
        index_name = "owner-index"
        projection = AllProjection()

    owner_key = UnicodeAttribute(hash_key=True)
    list_sort = UnicodeAttribute(range_key=True)


class _BankIndex(GlobalSecondaryIndex["PayoutModel"]):
    class Meta:
        index_name = "bank-index"
        projection = AllProjection()

    bank_code = UnicodeAttribute(hash_key=True)
    list_sort = UnicodeAttribute(range_key=True)


@register
class PayoutModel(Model):
    class Meta:
        short_name = "payouts"

    payout_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # withdrawal | cash_transfer
    bank_code = UnicodeAttribute()
    amount_satang = NumberAttribute()
    status = UnicodeAttribute()  # pending | sent | settled | rejected
    reason = UnicodeAttribute(null=True)
    inquiry = BooleanAttribute(default=False)
    created_at = UnicodeAttribute()
    sent_at = UnicodeAttribute(null=True)
    settled_at = UnicodeAttribute(null=True)
    business_date = UnicodeAttribute(null=True)
    list_sort = UnicodeAttribute()  # <created_at>#<payout_id>
    # The ledger accounts of the hold (its transfer id is the payout id).
    source_account = UnicodeAttribute()
    hold_account = UnicodeAttribute()
    # Whose payout: ``merchant:<id>`` or ``citizen:<hashed cid>``; the phase of a cash transfer.
    owner_key = UnicodeAttribute()
    phase_id = UnicodeAttribute(null=True)
    creditor_name = UnicodeAttribute()
    # ``account_no`` or ``promptpay_id``, encrypted (context ``payout:<id>``).
    creditor_id_kind = UnicodeAttribute()
    creditor_id_enc = UnicodeAttribute()
    timeout_hours = NumberAttribute()
    msg_id = UnicodeAttribute(null=True)
    dispatch_bank = UnicodeAttribute(null=True)
    awaiting_bank = UnicodeAttribute(null=True)
    timeout_at = UnicodeAttribute(null=True)
    settled_key = UnicodeAttribute(null=True)

    dispatch_index = _DispatchIndex()
    awaiting_index = _AwaitingIndex()
    settled_index = _SettledIndex()
    owner_index = _OwnerIndex()
    bank_index = _BankIndex()
