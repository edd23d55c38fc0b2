"""The double-entry ledger (see core.py)."""
from chalicelib.ledger import accounts
from chalicelib.ledger.audit import AuditReport, audit_ledger
from chalicelib.ledger.core import (
    BatchCredit,
    BatchResult,
    ExtraWrite,
    HistoryPage,
    Ledger,
    Posted,
    Transfer,
    TransferRecord,
)
from chalicelib.ledger.exceptions import (
    BudgetExhaustedError,
    ConditionFailedError,
    InsufficientFundsError,
    LedgerError,
    PendingStateError,
    RetriesExhaustedError,
    TransferMismatchError,
)
from chalicelib.ledger.models import AccountModel, TransferModel

__all__ = [
    "accounts",
    "AuditReport",
    "audit_ledger",
    "AccountModel",
    "BatchCredit",
    "BatchResult",
    "BudgetExhaustedError",
    "ConditionFailedError",
    "ExtraWrite",
    "HistoryPage",
    "InsufficientFundsError",
    "Ledger",
    "LedgerError",
    "PendingStateError",
    "Posted",
    "RetriesExhaustedError",
    "Transfer",
    "TransferMismatchError",
    "TransferModel",
    "TransferRecord",
]
