"""What the ledger takes and gives: transfers, their stored records, results.

Pure: no I/O. A record read back is checked here against what its state
implies (TigerBeetle: check an invariant before the write and again after
the read), so that a damaged or hand-edited item never passes as money.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.ledger import accounts
from chalicelib.ledger.exceptions import CorruptRecordError
from chalicelib.limits import TRANSFER_AMOUNT_SATANG_MAX

if TYPE_CHECKING:
    from pynamodb.expressions.condition import Condition
    from pynamodb.expressions.update import Action
    from pynamodb.models import Model

__all__ = [
    "TRANSFER_ID_CHARS_MAX",
    "POSTED",
    "PENDING",
    "VOIDED",
    "Transfer",
    "TransferRecord",
    "Posted",
    "BatchCredit",
    "BatchResult",
    "ExtraWrite",
    "HistoryPage",
]

TRANSFER_ID_CHARS_MAX = 200
POSTED = "posted"
PENDING = "pending"
VOIDED = "voided"
_STATES = frozenset({POSTED, PENDING, VOIDED})
_REQUIRED = ("transfer_id", "kind", "debit_account", "credit_account", "amount_satang", "created_at")


def _check_amount(amount: object) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= TRANSFER_AMOUNT_SATANG_MAX:
        raise ValueError(f"amount_satang must be an integer in 1..{TRANSFER_AMOUNT_SATANG_MAX}")


def _check_accounts(debit_account: str, credit_account: str) -> None:
    if debit_account == credit_account:
        raise ValueError("a transfer needs two different accounts")
    accounts.kind_of(debit_account)
    accounts.kind_of(credit_account)


@dataclass(frozen=True)
class Transfer:
    """A request to move ``amount_satang`` from ``debit_account`` to ``credit_account``."""

    transfer_id: str
    debit_account: str
    credit_account: str
    amount_satang: int
    kind: str
    fingerprint: str | None = None
    details: Mapping[str, Any] | None = None
    # A key of the transfers' ``feed`` index (e.g. a phase's spending), for
    # a reader that counts these transfers off the posting path.
    feed: str | None = None
    # Counters the debited account's balance item adds in the same write
    # (accounts.COUNTED_KINDS: e.g. a phase's progress on its treasury shard).
    debit_counters: Mapping[str, int] | None = None

    def check(self) -> None:
        if not self.transfer_id or len(self.transfer_id) > TRANSFER_ID_CHARS_MAX:
            raise ValueError(f"transfer_id must be 1..{TRANSFER_ID_CHARS_MAX} characters")
        _check_amount(self.amount_satang)
        _check_accounts(self.debit_account, self.credit_account)


@dataclass(frozen=True)
class TransferRecord:
    """A transfer as the ledger stored it."""

    transfer_id: str
    kind: str
    debit_account: str
    credit_account: str
    amount_satang: int
    state: str
    created_at: str
    post_to: str | None = None
    fingerprint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    feed: str | None = None

    @classmethod
    def of(cls, transfer: Transfer, debit_account: str, created_at: str, *, state: str = POSTED,
           post_to: str | None = None) -> TransferRecord:
        """The record a transfer is written as (``debit_account``: the
        source a batched credit was taken from)."""
        return cls(
            transfer_id=transfer.transfer_id,
            kind=transfer.kind,
            debit_account=debit_account,
            credit_account=transfer.credit_account,
            amount_satang=transfer.amount_satang,
            state=state,
            created_at=created_at,
            post_to=post_to,
            fingerprint=transfer.fingerprint,
            details=dict(transfer.details) if transfer.details else {},
            feed=transfer.feed,
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> TransferRecord:
        """A record read back (plain values), checked: CorruptRecordError if
        it lacks a field or its state does not fit what it says it is."""
        missing = [name for name in _REQUIRED if item.get(name) in (None, "")]
        if missing:
            raise CorruptRecordError(str(item.get("transfer_id")), f"missing {', '.join(missing)}")
        record = cls(
            transfer_id=item["transfer_id"],
            kind=item["kind"],
            debit_account=item["debit_account"],
            credit_account=item["credit_account"],
            amount_satang=item["amount_satang"],
            state=item.get("state") or POSTED,
            created_at=item["created_at"],
            post_to=item.get("post_to"),
            fingerprint=item.get("fingerprint"),
            details=dict(item.get("details") or {}),
            feed=item.get("feed_key"),
        )
        record.check()
        return record

    def check(self) -> None:
        """The invariants of a stored record; CorruptRecordError if one fails."""
        try:
            _check_amount(self.amount_satang)
            _check_accounts(self.debit_account, self.credit_account)
            if self.post_to is not None:
                accounts.kind_of(self.post_to)
        except ValueError as exc:
            raise CorruptRecordError(self.transfer_id, str(exc)) from exc
        if self.state not in _STATES:
            raise CorruptRecordError(self.transfer_id, f"unknown state {self.state!r}")
        # Only a two-phase transfer (it knows where it goes) is ever pending
        # or voided; a plain transfer is posted from its first write.
        if self.post_to is None and self.state != POSTED:
            raise CorruptRecordError(self.transfer_id, f"a {self.state} transfer without post_to")

    def same_as(self, transfer: Transfer, *, post_to: str | None = None, sources: Collection[str] = ()) -> bool:
        """Same movement and request: a retry, not a reused id.

        A batched credit may have been taken from any of its ``sources``
        (treasury shards), so its debit side is any of them.
        """
        debit_matches = self.debit_account == transfer.debit_account or self.debit_account in sources
        # A shop's balance shards are one balance: a retry after its shard
        # count was raised picks another shard, and is still this transfer.
        return (
            debit_matches
            and self.kind == transfer.kind
            and accounts.base_account(self.credit_account) == accounts.base_account(transfer.credit_account)
            and self.amount_satang == transfer.amount_satang
            and self.fingerprint == transfer.fingerprint
            and self.post_to == post_to
        )


@dataclass(frozen=True)
class Posted:
    record: TransferRecord
    created: bool  # False: it already existed (a retry), nothing moved now


@dataclass(frozen=True)
class BatchCredit:
    """One credit of a batch taken from a sharded source (e.g. issuance).

    ``credit_sets`` sets plain attributes of the credited balance item in the
    same write (e.g. a wallet's ``status`` and ``expires_at``);
    ``source_counters`` are added to the source's balance item in the
    transaction that posts the credit (accounts.COUNTED_KINDS), so they
    count exactly the credits posted.
    """

    transfer_id: str
    credit_account: str
    amount_satang: int
    details: Mapping[str, Any] | None = None
    credit_sets: Mapping[str, str] | None = None
    source_counters: Mapping[str, int] | None = None


@dataclass
class BatchResult:
    created: list[TransferRecord] = field(default_factory=list)
    existing: list[TransferRecord] = field(default_factory=list)
    # Credits that no source could cover: the budget is exhausted for them.
    unfunded: list[BatchCredit] = field(default_factory=list)
    transactions: int = 0


@dataclass(frozen=True)
class ExtraWrite:
    """Another item written in the same transaction as a transfer.

    ``put`` writes ``item`` whole; ``update`` applies ``actions`` to it. If its
    ``condition`` fails, the ledger raises ``ConditionFailedError(tag, item)``
    with the item as it was, so the caller knows why without a read.
    """

    tag: str
    item: Model
    condition: Condition | None = None
    actions: Sequence[Action] | None = None  # None: a put


@dataclass(frozen=True)
class HistoryPage:
    items: list[tuple[TransferRecord, str]]  # (record, "in" | "out")
    next_cursor: str | None
