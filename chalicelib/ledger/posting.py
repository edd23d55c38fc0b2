"""Posting: one transfer (or a transfer and the transfers linked to it) as
one conditional transaction, and the one reading of what failed.

The transaction holds the records (``attribute_not_exists``: the first is
the idempotency record), the callers' extra items, a pending transfer's
resolution mark and one update per account with its net change (DynamoDB
allows one operation per item in a transaction). What failed is told from
the tags (``chalicelib.db.Transaction``), by role and never by position:
the idempotency record first (a retry: nothing moves, the record comes
back), then any other record (a reused id), the pending mark, the extra
items, and last the balances.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pynamodb.connection import Connection
from pynamodb.expressions.condition import Condition

from chalicelib import db
from chalicelib.ledger import accounts, items, reads
from chalicelib.ledger.exceptions import (
    ConditionFailedError,
    InsufficientFundsError,
    PendingStateError,
    TransferMismatchError,
)
from chalicelib.ledger.records import ExtraWrite, Posted, Transfer, TransferRecord

__all__ = ["Context", "BalanceChange", "Resolution", "post_once", "net_changes", "transfer_changes", "existing_record",
           "DEBIT_TAG"]

# ConditionFailedError's tag for the debited account's own condition.
DEBIT_TAG = "debit"


@dataclass(frozen=True)
class Context:
    """What every posting needs: the connection, the item limit of one
    transaction and the clock that stamps records."""

    connection: Connection
    item_limit: int
    clock: Callable[[], str]

    def transaction(self, operation: str) -> db.Transaction:
        return db.Transaction(operation, item_limit=self.item_limit, via=self.connection)


@dataclass(frozen=True)
class BalanceChange:
    """One account's update in a posting: its delta, what it sets, its
    condition, and its running totals by counterparty (``tallies``: e.g.
    ``in_treasury_satang``, see accounts.tally_name) added in the same write."""

    account_id: str
    delta_satang: int
    sets: Mapping[str, str] | None = None
    condition: Condition | None = None
    tallies: Mapping[str, int] = field(default_factory=dict)
    counters: Mapping[str, int] = field(default_factory=dict)


def transfer_changes(transfer: Transfer, *, debit_sets: Mapping[str, str] | None = None,
                     debit_condition: Condition | None = None,
                     credit_sets: Mapping[str, str] | None = None) -> list[BalanceChange]:
    """The two updates of one transfer, each with its tally of the other side."""
    amount = transfer.amount_satang
    return [
        BalanceChange(transfer.debit_account, -amount, debit_sets, debit_condition,
                      accounts.tallies_of(transfer.debit_account, "out", transfer.credit_account, amount),
                      dict(transfer.debit_counters or {})),
        BalanceChange(transfer.credit_account, amount, credit_sets,
                      tallies=accounts.tallies_of(transfer.credit_account, "in", transfer.debit_account, amount)),
    ]


@dataclass(frozen=True)
class Resolution:
    """The pending transfer a posting resolves (posted or voided), once."""

    transfer_id: str
    outcome: str


def net_changes(transfers: Sequence[Transfer]) -> list[BalanceChange]:
    """One change per account with its net delta (accounts netting to zero left out)."""
    deltas: dict[str, int] = {}
    tallies: dict[str, dict[str, int]] = {}
    counters: dict[str, dict[str, int]] = {}
    for each in transfers:
        for change in transfer_changes(each):
            deltas[change.account_id] = deltas.get(change.account_id, 0) + change.delta_satang
            for sums, moves in ((tallies, change.tallies), (counters, change.counters)):
                mine = sums.setdefault(change.account_id, {})
                for name, amount in moves.items():
                    mine[name] = mine.get(name, 0) + amount
    return [BalanceChange(account_id, delta, tallies=tallies[account_id], counters=counters[account_id])
            for account_id, delta in deltas.items() if delta]


def existing_record(expected: Transfer, item: Mapping[str, Any] | None, *, post_to: str | None = None,
                    sources: Collection[str] = ()) -> TransferRecord:
    """The record that made ``expected``'s id fail as new: a retry if it is
    the same transfer, else TransferMismatchError (a reused id)."""
    existing = TransferRecord.from_item(item) if item else reads.get_transfer(expected.transfer_id)
    if existing is None or not existing.same_as(expected, post_to=post_to, sources=sources):
        raise TransferMismatchError(expected.transfer_id, dict(item or {}))
    return existing


def _check_extra(extra: Sequence[ExtraWrite]) -> None:
    tags = [e.tag for e in extra]
    if DEBIT_TAG in tags or len(set(tags)) != len(tags):
        raise ValueError(f"extra writes need distinct tags other than {DEBIT_TAG!r}: {tags}")


def post_once(ctx: Context, operation: str, records: Sequence[TransferRecord], changes: Sequence[BalanceChange], *,
              expected: Transfer, extra: Sequence[ExtraWrite] = (), resolves: Resolution | None = None) -> Posted:
    """Write ``records``, ``extra``, the resolution mark and ``changes`` in
    one transaction. ``records[0]`` is ``expected``'s record: when it exists
    already, nothing moves and it comes back (``created`` False). Raises
    TransferMismatchError, PendingStateError, ConditionFailedError or
    InsufficientFundsError; nothing is written then."""
    _check_extra(extra)
    tx = ctx.transaction(operation)
    for record in records:
        items.put_record(tx, record)
    if resolves is not None:
        items.mark_resolved(tx, resolves.transfer_id, resolves.outcome)
    for each in extra:
        items.add_extra(tx, each)
    for change in changes:
        items.update_balance(tx, change.account_id, change.delta_satang, sets=change.sets, condition=change.condition,
                             tallies=change.tallies, counters=change.counters)
    try:
        tx.commit()
    except db.ConditionsFailedError as exc:
        return _replayed(exc, records, expected)
    return Posted(records[0], created=True)


def _replayed(exc: db.ConditionsFailedError, records: Sequence[TransferRecord], expected: Transfer) -> Posted:
    """The replay ``exc`` says this is, or the domain error it means."""
    failed_records = exc.keys(items.RECORD)
    if expected.transfer_id in failed_records:
        existing = existing_record(expected, failed_records[expected.transfer_id], post_to=records[0].post_to)
        return Posted(existing, created=False)
    if failed_records:
        transfer_id, item = _first(failed_records)
        raise TransferMismatchError(transfer_id, dict(item or {})) from exc
    if pending := exc.keys(items.PENDING_MARK):
        transfer_id, item = _first(pending)
        raise PendingStateError(transfer_id, (item or {}).get("state")) from exc
    if extra := exc.keys(items.EXTRA):
        raise ConditionFailedError(*_first(extra)) from exc
    if balances := exc.keys(items.BALANCE):
        raise _balance_error(records, *_first(balances)) from exc
    raise exc


def _first(failed: dict[str, dict[str, Any] | None]) -> tuple[str, dict[str, Any] | None]:
    return next(iter(failed.items()))


def _balance_error(records: Sequence[TransferRecord], account_id: str,
                   item: dict[str, Any] | None) -> InsufficientFundsError | ConditionFailedError:
    """A debited balance failed: not covered, or the caller's own condition."""
    debit_satang = sum(r.amount_satang for r in records if r.debit_account == account_id) - sum(
        r.amount_satang for r in records if r.credit_account == account_id)
    if item is None or (int(item.get("balance_satang") or 0) < debit_satang
                        and not accounts.may_go_negative(account_id)):
        return InsufficientFundsError(account_id, debit_satang, item)
    return ConditionFailedError(DEBIT_TAG, item)
