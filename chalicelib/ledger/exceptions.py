"""Errors of the ledger. All derive from LedgerError, itself a WalletError."""
from __future__ import annotations

from typing import Any

from chalicelib.errors import ConflictError, RuleError, WalletError

__all__ = [
    "LedgerError",
    "InsufficientFundsError",
    "TransferMismatchError",
    "ConditionFailedError",
    "PendingStateError",
    "CorruptRecordError",
]


class LedgerError(WalletError):
    pass


class InsufficientFundsError(LedgerError, RuleError):
    def __init__(self, account_id: str, amount_satang: int, item: dict[str, Any] | None = None) -> None:
        RuleError.__init__(
            self,
            "insufficient_funds",
            "The balance does not cover this amount; pay a smaller amount.",
            {"amount_satang": amount_satang},
        )
        self.account_id = account_id
        self.item = item or {}


class TransferMismatchError(LedgerError, ConflictError):
    """The transfer id exists with other fields: a reused id, never a retry."""

    def __init__(self, transfer_id: str, existing: dict[str, Any]) -> None:
        ConflictError.__init__(
            self,
            "idempotency_conflict",
            "This id was already used for a different transfer; use a new id.",
        )
        self.transfer_id = transfer_id
        self.existing = existing


class ConditionFailedError(LedgerError):
    """A caller's own condition on an item of the transaction failed.

    ``tag`` names the item (``debit`` for the debited account's extra
    condition, or the tag the caller gave an extra item); ``item`` is the
    item as DynamoDB returned it with the cancellation (plain Python values),
    so the caller can tell why without reading.
    """

    def __init__(self, tag: str, item: dict[str, Any] | None) -> None:
        super().__init__(f"condition on {tag} failed")
        self.tag = tag
        self.item = item or {}


class PendingStateError(LedgerError, ConflictError):
    def __init__(self, transfer_id: str, state: str | None) -> None:
        ConflictError.__init__(
            self,
            "pending_state",
            f"The pending transfer is {state or 'missing'}; it cannot be resolved that way.",
        )
        self.transfer_id = transfer_id
        self.state = state


class CorruptRecordError(LedgerError):
    """A transfer record or balance read back breaks an invariant of the
    ledger (a missing field, a state its kind cannot have, a negative
    balance): never money to act on. A 500, and an alert."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"ledger item {what} is not valid: {why}")
        self.what = what
        self.why = why
