"""The double-entry ledger: accounts, immutable transfers, atomic posting.

Discipline (TigerBeetle's): a transfer moves an integer amount from one
account to another and is never changed or deleted; the client's transfer id
makes a retry harmless (the same id with the same fields is as good as
posted, with other fields it is an error); a pending transfer is posted or
voided once. Every write is one conditional ``TransactWriteItems``: the
balance updates and the transfer record with ``attribute_not_exists``, so
either all of it happens or none does.

``Ledger`` is the one entry point; each operation lives in the module of
its role: ``records`` (what goes in and out), ``items`` (the transaction's
items), ``posting`` (one transaction and what its failure means), ``batch``
(many credits from sharded sources), ``pending`` (two-phase), ``reads``,
``history``, ``summary``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib import db
from chalicelib.clock import iso_now
from chalicelib.config import Settings, get_settings
from chalicelib.ledger import batch, history, pending, reads, summary
from chalicelib.ledger.models import AccountModel
from chalicelib.ledger.posting import Context, net_changes, post_once, transfer_changes
from chalicelib.ledger.records import (
    POSTED,
    VOIDED,
    BatchCredit,
    BatchResult,
    ExtraWrite,
    HistoryPage,
    Posted,
    Transfer,
    TransferRecord,
)

__all__ = ["Ledger"]


class Ledger:
    """Posting, batched posting, two-phase transfers, history and summary."""

    def __init__(self, settings: Settings | None = None, clock: Callable[[], str] = iso_now) -> None:
        settings = settings or get_settings()
        self.item_limit = settings.transaction_item_limit
        self._ctx = Context(db.connection(settings), self.item_limit, clock)

    # -- posting -----------------------------------------------------------------

    def post(
        self,
        transfer: Transfer,
        *,
        debit_condition: Condition | None = None,
        credit_sets: Mapping[str, str] | None = None,
        extra: Sequence[ExtraWrite] = (),
        debit_sets: Mapping[str, str] | None = None,
    ) -> Posted:
        """Move the money, once. Raises InsufficientFundsError,
        TransferMismatchError or ConditionFailedError; writes nothing then.

        ``credit_sets`` / ``debit_sets`` set ``status`` or ``expires_at`` of
        the credited / debited balance item in the same write (e.g. an
        expired wallet's ``status`` as its balance goes back)."""
        transfer.check()
        record = TransferRecord.of(transfer, transfer.debit_account, self._ctx.clock())
        changes = transfer_changes(transfer, debit_sets=debit_sets, debit_condition=debit_condition,
                                   credit_sets=credit_sets)
        return post_once(self._ctx, "post", [record], changes, expected=transfer, extra=extra)

    def post_linked(self, transfer: Transfer, linked: Sequence[Transfer], *,
                    extra: Sequence[ExtraWrite] = ()) -> Posted:
        """Post ``transfer`` and the ``linked`` transfers in one transaction.

        For a payment funded from two balances (a shop spends ``spendable``
        first, then ``withdrawable``): each transfer keeps its own immutable
        record, so that the audit's replay of records still gives every
        balance, while each account gets one update with its net change
        (DynamoDB allows one operation per item in a transaction), whose
        no-overdraft condition is on that net debit. ``transfer`` is the
        idempotency record: when it exists, nothing moves and it is returned.
        Raises InsufficientFundsError (``account_id`` names the account),
        TransferMismatchError or ConditionFailedError; writes nothing then.
        """
        transfers = [transfer, *linked]
        for each in transfers:
            each.check()
        now = self._ctx.clock()
        records = [TransferRecord.of(each, each.debit_account, now) for each in transfers]
        return post_once(self._ctx, "post_linked", records, net_changes(transfers), expected=transfer, extra=extra)

    def hold(self, transfer: Transfer, post_to: str, *, extra: Sequence[ExtraWrite] = (),
             linked: Sequence[Transfer] = ()) -> Posted:
        """First phase of a two-phase transfer: the money moves to
        ``transfer.credit_account`` (a holding account such as in-flight at a
        bank) and waits there until ``settle`` sends it on to ``post_to`` or
        ``void`` returns it to where it came from. ``extra`` items (e.g. a
        payout record) go in the same transaction, and so do ``linked``
        transfers (a shop's other balance shards drawn into the held one)."""
        return pending.hold(self._ctx, transfer, post_to, extra, linked)

    def settle(self, transfer_id: str, details: Mapping[str, Any] | None = None, *,
               extra: Sequence[ExtraWrite] = ()) -> Posted:
        return pending.resolve(self._ctx, transfer_id, POSTED, details, extra)

    def void(self, transfer_id: str, details: Mapping[str, Any] | None = None, *,
             extra: Sequence[ExtraWrite] = ()) -> Posted:
        return pending.resolve(self._ctx, transfer_id, VOIDED, details, extra)

    def post_batch(self, sources: Sequence[str], credits: Sequence[BatchCredit], kind: str) -> BatchResult:
        """Credit many accounts from one of ``sources`` (e.g. treasury shards),
        each exactly once; credits no source can cover come back in
        ``unfunded`` (see ``chalicelib.ledger.batch``)."""
        return batch.post_batch(self._ctx, sources, credits, kind)

    # -- reads ---------------------------------------------------------------

    def get_transfer(self, transfer_id: str) -> TransferRecord | None:
        return reads.get_transfer(transfer_id)

    def account(self, account_id: str) -> AccountModel | None:
        return reads.account(account_id)

    def balance(self, account_id: str) -> int:
        return reads.balance(account_id)

    def history(self, history_key: str, limit: int = 50, cursor: str | None = None) -> HistoryPage:
        """Transfers of one owner (wallet or merchant), newest first."""
        return history.history(history_key, limit, cursor)

    def iter_accounts(self) -> Iterator[AccountModel]:
        return summary.iter_accounts()

    def summary(self) -> dict[str, Any]:
        """The ledger summary of API.md, from the stream's aggregate items
        (O(buckets); ``as_of`` says up to when it counts every change)."""
        return summary.summary()

    def scan_summary(self) -> dict[str, Any]:
        """The same summary from a scan of every balance: the auditor's check."""
        return summary.scan_summary()
