"""Errors of payouts (a withdrawal's rules raise the spending rules'
``withdrawal_not_allowed``, chalicelib.payments.rules)."""
from __future__ import annotations

from chalicelib.errors import NotFoundError

__all__ = ["PayoutNotFoundError"]


class PayoutNotFoundError(NotFoundError):
    def __init__(self, what: str = "payout") -> None:
        super().__init__(f"No such {what}.")
