"""Reading one transfer or one balance back, consistently, and checked."""
from __future__ import annotations

from chalicelib import db
from chalicelib.ledger import accounts
from chalicelib.ledger.exceptions import CorruptRecordError
from chalicelib.ledger.models import AccountModel, TransferModel
from chalicelib.ledger.records import TransferRecord

__all__ = ["record_of", "get_transfer", "account", "balance"]


def record_of(model: TransferModel) -> TransferRecord:
    """The checked record of a transfer item read through its model."""
    return TransferRecord.from_item(db.plain(model.attribute_values | {
        "details": model.details.as_dict() if model.details is not None else {}}))  # type: ignore[no-untyped-call]  # PynamoDB: as_dict has no annotations


def get_transfer(transfer_id: str) -> TransferRecord | None:
    try:
        return record_of(TransferModel.get(transfer_id, consistent_read=True))
    except TransferModel.DoesNotExist:
        return None


def account(account_id: str) -> AccountModel | None:
    """The balance item, checked: only the budget account may be below zero."""
    try:
        found = AccountModel.get(account_id, consistent_read=True)
    except AccountModel.DoesNotExist:
        return None
    if int(found.balance_satang) < 0 and not accounts.may_go_negative(account_id):
        raise CorruptRecordError(account_id, f"balance {found.balance_satang} below zero")
    return found


def balance(account_id: str) -> int:
    found = account(account_id)
    return int(found.balance_satang) if found else 0
