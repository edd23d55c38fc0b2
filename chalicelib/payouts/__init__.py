"""Payouts: money leaving the program through the banks (BANKS.md).

- ``steps``: the two-phase ledger steps of a payout (hold, sent, settle or
  reject), each one atomic, idempotent ledger transfer with the payout
  record's change in the same transaction;
- ``withdrawals``: a shop cashes out;
- ``queries``: the operators' list;
- ``rules``: pure rules and the ISO 20022 messages as JSON;
- ``models`` (the tables) and ``exceptions``.

Import the module you need: this file imports nothing, so that the routes'
declarations read ``rules`` and ``requests`` without the database layer.
"""
