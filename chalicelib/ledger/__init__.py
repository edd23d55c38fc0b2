"""The double-entry ledger (see core.py for the whole, and a module per role)."""
from chalicelib.ledger import accounts
from chalicelib.ledger.audit import AuditReport, audit_ledger
from chalicelib.ledger.core import Ledger
from chalicelib.ledger.exceptions import (
    ConditionFailedError,
    CorruptRecordError,
    InsufficientFundsError,
    LedgerError,
    PendingStateError,
    TransferMismatchError,
)
from chalicelib.ledger.models import AccountModel, TransferModel
from chalicelib.ledger.records import (
    BatchCredit,
    BatchResult,
    ExtraWrite,
    HistoryPage,
    Posted,
    Transfer,
    TransferRecord,
)

__all__ = [
    "accounts",
    "AuditReport",
    "audit_ledger",
    "AccountModel",
    "BatchCredit",
    "BatchResult",
    "ConditionFailedError",
    "CorruptRecordError",
    "ExtraWrite",
    "HistoryPage",
    "InsufficientFundsError",
    "Ledger",
    "LedgerError",
    "PendingStateError",
    "Posted",
    "Transfer",
    "TransferMismatchError",
    "TransferModel",
    "TransferRecord",
]
