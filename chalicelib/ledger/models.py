"""DynamoDB items of the ledger: balance items and immutable transfer records."""
from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.constants import STREAM_NEW_AND_OLD_IMAGE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.db import register
from chalicelib.ledger import accounts

__all__ = ["AccountModel", "SummaryShardModel", "TransferModel"]


@register
class AccountModel(Model):
    """One balance. Created by its first credit (``if_not_exists``), so that
    crediting a new wallet needs no read and no extra item."""

    class Meta:
        short_name = "accounts"
        # Every change of a balance, old and new, for the ledger summary's
        # aggregates (chalicelib/ledger/stream_summary.py): off the write path.
        stream_view_type = STREAM_NEW_AND_OLD_IMAGE

    account_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(null=True)
    balance_satang = NumberAttribute(default=0)
    # Spending state of a wallet, kept on the balance item so that a payment's
    # debit can be conditional on it in the same write (ARCHITECTURE.md).
    status = UnicodeAttribute(null=True)
    expires_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    # The transaction that wrote it last (accounts.LAST_TX, db.Transaction.id).
    last_tx = UnicodeAttribute(null=True)
    # What came in from and went out to each kind of account (accounts.TALLIES),
    # added by every posting in the same update as the balance. Declared one
    # by one so that a read keeps them (PynamoDB drops undeclared attributes).
    in_treasury_satang = NumberAttribute(null=True)
    in_wallet_satang = NumberAttribute(null=True)
    in_budget_satang = NumberAttribute(null=True)
    in_merchant_spendable_satang = NumberAttribute(null=True)
    in_merchant_withdrawable_satang = NumberAttribute(null=True)
    in_in_flight_satang = NumberAttribute(null=True)
    in_paid_out_satang = NumberAttribute(null=True)
    in_returned_satang = NumberAttribute(null=True)
    out_treasury_satang = NumberAttribute(null=True)
    out_wallet_satang = NumberAttribute(null=True)
    out_budget_satang = NumberAttribute(null=True)
    out_merchant_spendable_satang = NumberAttribute(null=True)
    out_merchant_withdrawable_satang = NumberAttribute(null=True)
    out_in_flight_satang = NumberAttribute(null=True)
    out_paid_out_satang = NumberAttribute(null=True)
    out_returned_satang = NumberAttribute(null=True)

    def tally(self, name: str) -> int:
        """One of accounts.TALLIES (0 before anything moved that way)."""
        if name not in accounts.TALLIES:
            raise ValueError(f"{name} is not a tally (accounts.TALLIES)")
        return int(getattr(self, name) or 0)


class _DebitHistoryIndex(GlobalSecondaryIndex["TransferModel"]):
    class Meta:
        index_name = "debit-history"
        projection = AllProjection()

    debit_history = UnicodeAttribute(hash_key=True)
    history_sort = UnicodeAttribute(range_key=True)


class _CreditHistoryIndex(GlobalSecondaryIndex["TransferModel"]):
    class Meta:
        index_name = "credit-history"
        projection = AllProjection()

    credit_history = UnicodeAttribute(hash_key=True)
    history_sort = UnicodeAttribute(range_key=True)


class _FeedIndex(GlobalSecondaryIndex["TransferModel"]):
    """Transfers posted with a ``feed`` key, oldest first (sparse): read by
    counters kept off the posting path (a phase's spending)."""

    class Meta:
        index_name = "feed"
        projection = AllProjection()

    feed_key = UnicodeAttribute(hash_key=True)
    history_sort = UnicodeAttribute(range_key=True)


@register
class TransferModel(Model):
    """A transfer: written once, never changed, except that a pending one is
    resolved once (``state``: pending -> posted | voided)."""

    class Meta:
        short_name = "transfers"

    transfer_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    debit_account = UnicodeAttribute()
    credit_account = UnicodeAttribute()
    amount_satang = NumberAttribute()
    state = UnicodeAttribute(default="posted")
    created_at = UnicodeAttribute()
    # ``<created_at>#<transfer_id>``: newest-first order with a stable cursor.
    history_sort = UnicodeAttribute()
    # Sparse: only wallets and merchants have a transaction list.
    debit_history = UnicodeAttribute(null=True)
    credit_history = UnicodeAttribute(null=True)
    # For a pending transfer: where the money goes when posted.
    post_to = UnicodeAttribute(null=True)
    # Hash of the request that made it, when it is also an idempotency record.
    fingerprint = UnicodeAttribute(null=True)
    # Small facts for the transaction list and the replayed response.
    details = MapAttribute(null=True)  # type: ignore[var-annotated]
    # Sparse: the key of the ``feed`` index (Transfer.feed).
    feed_key = UnicodeAttribute(null=True)

    debit_history_index = _DebitHistoryIndex()
    credit_history_index = _CreditHistoryIndex()
    feed_index = _FeedIndex()


@register
class SummaryShardModel(Model):
    """What one shard of the balances' stream added to each summary bucket,
    up to its last applied record (``sequence``): the summary sums these
    items, O(stream shards x buckets). Written only by
    chalicelib/ledger/stream_summary.py, each write conditional on the
    ``sequence`` it continues from, so that a page read twice counts once."""

    class Meta:
        short_name = "ledger-summary"

    stream = UnicodeAttribute(hash_key=True)
    shard_id = UnicodeAttribute(range_key=True)
    parent_shard_id = UnicodeAttribute(null=True)
    sequence = UnicodeAttribute(null=True)
    applied_through = UnicodeAttribute(null=True)
    read_to_tip_at = UnicodeAttribute(null=True)
    closed = BooleanAttribute(null=True)
    records = NumberAttribute(null=True)
    budget_satang = NumberAttribute(null=True)
    treasury_satang = NumberAttribute(null=True)
    wallets_satang = NumberAttribute(null=True)
    merchants_spendable_satang = NumberAttribute(null=True)
    merchants_withdrawable_satang = NumberAttribute(null=True)
    in_flight_satang = NumberAttribute(null=True)
    paid_out_satang = NumberAttribute(null=True)
    returned_satang = NumberAttribute(null=True)
    negative_accounts = NumberAttribute(null=True)
    # The changes of transactions not yet seen whole (JSON: transaction id ->
    # bucket -> satang), and its version, moved by every write of it.
    held = UnicodeAttribute(null=True)
    held_version = NumberAttribute(null=True)
