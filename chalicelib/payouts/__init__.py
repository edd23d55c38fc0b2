"""Payouts: money leaving the program through the banks (BANKS.md).

- ``steps``: the two-phase ledger steps of a payout (hold, sent, settle or
  reject), each one atomic, idempotent ledger transfer with the payout
  record's change in the same transaction;
- ``withdrawals``: a shop cashes out;
- ``queries``: the operators' list;
- ``rules``: pure rules and the ISO 20022 messages as JSON.
"""
from __future__ import annotations

from chalicelib.payouts.exceptions import PayoutNotFoundError
from chalicelib.payouts.models import PayoutModel

__all__ = ["PayoutModel", "PayoutNotFoundError"]
