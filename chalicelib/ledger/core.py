"""The double-entry ledger: accounts, immutable transfers, atomic posting.

Discipline (TigerBeetle's): a transfer moves an integer amount from one
account to another and is never changed or deleted; the client's transfer id
makes a retry harmless (the same id with the same fields is as good as
posted, with other fields it is an error); a pending transfer is posted or
voided once. Every write is one conditional ``TransactWriteItems``: the two
balance updates and the transfer record with ``attribute_not_exists``, so
either all of it happens or none does.
"""
from __future__ import annotations

import base64
import hashlib
import heapq
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterator, Mapping, Sequence

from boto3.dynamodb.types import TypeDeserializer
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib.clock import iso_now
from chalicelib.config import Settings, get_settings
from chalicelib import db
from chalicelib.ledger import accounts
from chalicelib.limits import PAGE_SIZE_MAX, TRANSFER_AMOUNT_SATANG_MAX
from chalicelib.ledger.exceptions import (
    ConditionFailedError,
    InsufficientFundsError,
    PendingStateError,
    TransferMismatchError,
)
from chalicelib.ledger.models import AccountModel, TransferModel
from chalicelib.ledger.retry import with_retries

__all__ = [
    "Ledger",
    "Transfer",
    "TransferRecord",
    "BatchCredit",
    "BatchResult",
    "ExtraWrite",
    "Posted",
    "HistoryPage",
]

SCAN_PAGE_SIZE = 1000
_DESERIALIZER = TypeDeserializer()
_CURSOR_END = "~"  # sorts after every ``<iso time>#<id>``


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

    def check(self) -> None:
        if not self.transfer_id or len(self.transfer_id) > 200:
            raise ValueError("transfer_id must be 1..200 characters")
        amount = self.amount_satang
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= TRANSFER_AMOUNT_SATANG_MAX:
            raise ValueError(f"amount_satang must be an integer in 1..{TRANSFER_AMOUNT_SATANG_MAX}")
        if self.debit_account == self.credit_account:
            raise ValueError("a transfer needs two different accounts")
        accounts.kind_of(self.debit_account)
        accounts.kind_of(self.credit_account)


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

    @classmethod
    def from_model(cls, model: TransferModel) -> "TransferRecord":
        return cls(
            transfer_id=model.transfer_id,
            kind=model.kind,
            debit_account=model.debit_account,
            credit_account=model.credit_account,
            amount_satang=int(model.amount_satang),
            state=model.state,
            created_at=model.created_at,
            post_to=model.post_to,
            fingerprint=model.fingerprint,
            details=_plain(model.details.as_dict()) if model.details is not None else {},
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> "TransferRecord":
        return cls(
            transfer_id=item["transfer_id"],
            kind=item["kind"],
            debit_account=item["debit_account"],
            credit_account=item["credit_account"],
            amount_satang=int(item["amount_satang"]),
            state=item.get("state", "posted"),
            created_at=item["created_at"],
            post_to=item.get("post_to"),
            fingerprint=item.get("fingerprint"),
            details=_plain(item.get("details") or {}),
        )

    def same_as(self, transfer: Transfer) -> bool:
        """Same movement and request: a retry, not a reused id."""
        return (
            self.kind == transfer.kind
            and self.credit_account == transfer.credit_account
            and self.amount_satang == transfer.amount_satang
            and self.fingerprint == transfer.fingerprint
            # A batched credit may have been taken from any shard of the
            # treasury, so the debit side is compared by kind of account.
            and accounts.kind_of(self.debit_account) == accounts.kind_of(transfer.debit_account)
        )


@dataclass(frozen=True)
class Posted:
    record: TransferRecord
    created: bool  # False: it already existed (a retry), nothing moved now


@dataclass(frozen=True)
class BatchCredit:
    """One credit of a batch taken from a sharded source (e.g. issuance).

    ``credit_sets`` sets plain attributes of the credited balance item in the
    same write (e.g. a wallet's ``status`` and ``expires_at``).
    """

    transfer_id: str
    credit_account: str
    amount_satang: int
    details: Mapping[str, Any] | None = None
    credit_sets: Mapping[str, str] | None = None


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


class _Tx:
    """One TransactWriteItems with a tag per item.

    Items go out as puts before updates (within each kind, in the order they
    were added); the tags follow that order so that DynamoDB's cancellation
    reasons, which come one per item in the order sent, map back to tags.

    The ledger's own items (transfer records, balance updates) are written
    as low-level requests directly: every payment and every issued wallet
    makes them, and building them through PynamoDB models cost about a fifth
    of the Python time of a batched issuance. Callers' extra items
    (``ExtraWrite``) keep their models and conditions.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._puts: list[tuple[str, dict[str, Any]]] = []
        self._updates: list[tuple[str, dict[str, Any]]] = []

    def put_record(self, tag: str, record: TransferRecord) -> None:
        """The transfer's immutable record, written once (its id is new)."""
        item = {
            "transfer_id": {"S": record.transfer_id},
            "kind": {"S": record.kind},
            "debit_account": {"S": record.debit_account},
            "credit_account": {"S": record.credit_account},
            "amount_satang": {"N": str(record.amount_satang)},
            "state": {"S": record.state},
            "created_at": {"S": record.created_at},
            "history_sort": {"S": f"{record.created_at}#{record.transfer_id}"},
        }
        optional = {
            "debit_history": accounts.history_key_of(record.debit_account),
            "credit_history": accounts.history_key_of(record.credit_account),
            "post_to": record.post_to,
            "fingerprint": record.fingerprint,
        }
        item.update({name: {"S": value} for name, value in optional.items() if value is not None})
        if record.details:
            item["details"] = {"M": TransferModel.details.serialize(record.details)}
        self._puts.append((tag, {
            "TableName": TransferModel.Meta.table_name,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(#id)",
            "ExpressionAttributeNames": {"#id": "transfer_id"},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }))

    def update_balance(self, tag: str, account_id: str, delta: int, *, sets: Mapping[str, str] | None = None,
                       extra: Condition | None = None) -> None:
        """Add ``delta`` to a balance (creating it with its kind on the first
        credit) and set ``sets`` (``status``, ``expires_at``) in the same
        write, on condition that ``extra`` holds and that a debit is covered
        by the balance, unless the account may go below zero (the budget)."""
        names = {"#b": "balance_satang", "#k": "kind"}
        values: dict[str, Any] = {":d": {"N": str(delta)}, ":k": {"S": accounts.kind_of(account_id).value}}
        assignments = ["#k = if_not_exists(#k, :k)"]
        for index, (name, value) in enumerate((sets or {}).items()):
            if name not in ("status", "expires_at"):
                raise ValueError(f"credit_sets may set status or expires_at, not {name}")
            names[f"#s{index}"], values[f":s{index}"] = name, {"S": value}
            assignments.append(f"#s{index} = :s{index}")
        request: dict[str, Any] = {
            "TableName": AccountModel.Meta.table_name,
            "Key": {"account_id": {"S": account_id}},
            "UpdateExpression": f"SET {', '.join(assignments)} ADD #b :d",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        conditions = []
        if delta < 0 and not accounts.may_go_negative(account_id):
            conditions.append("#b >= :c")
            values[":c"] = {"N": str(-delta)}
        if extra is not None:
            # PynamoDB's placeholders are numbered (#0, :0), so they cannot
            # clash, and its AND, OR and NOT come in parentheses already.
            placeholders: dict[str, str] = {}
            conditions.append(extra.serialize(placeholders, values))
            names.update({placeholder: name for name, placeholder in placeholders.items()})
        if conditions:
            request["ConditionExpression"] = " AND ".join(conditions)
        request["ExpressionAttributeNames"] = names
        request["ExpressionAttributeValues"] = values
        self._updates.append((tag, request))

    def add(self, extra: ExtraWrite) -> None:
        if extra.actions is None:
            self._puts.append((extra.tag, extra.item.get_save_kwargs_from_instance(
                condition=extra.condition, return_values_on_condition_failure="ALL_OLD")))
        else:
            self._updates.append((extra.tag, extra.item.get_update_kwargs_from_instance(
                actions=list(extra.actions), condition=extra.condition,
                return_values_on_condition_failure="ALL_OLD")))

    @property
    def tags(self) -> list[str]:
        return [p[0] for p in self._puts] + [u[0] for u in self._updates]

    def __len__(self) -> int:
        return len(self._puts) + len(self._updates)

    def commit(self) -> None:
        # No consumed capacity: PynamoDB asks for it on every call unless
        # told otherwise, and nothing here reads it.
        self._connection.transact_write_items(
            condition_check_items=[], delete_items=[], put_items=[p[1] for p in self._puts],
            update_items=[u[1] for u in self._updates], return_consumed_capacity="NONE")

    def failures(self, exc: TransactWriteError) -> dict[str, dict[str, Any] | None]:
        """Tags whose condition failed, each with the item DynamoDB returned."""
        failed: dict[str, dict[str, Any] | None] = {}
        for tag, reason in zip(self.tags, exc.cancellation_reasons or []):
            if reason is not None and reason.code == "ConditionalCheckFailed":
                raw = reason.raw_item
                failed[tag] = {k: _DESERIALIZER.deserialize(v) for k, v in raw.items()} if raw else None
        return failed


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; money and counts are ints."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    return value


def _stable_index(key: str, modulo: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % modulo


def _encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        value = base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("cursor is not one this API returned") from exc
    if "#" not in value:
        raise ValueError("cursor is not one this API returned")
    return value


class Ledger:
    """Posting, batched posting, two-phase transfers, history and summary."""

    def __init__(self, settings: Settings | None = None, clock: Callable[[], str] = iso_now) -> None:
        settings = settings or get_settings()
        self.item_limit = settings.transaction_item_limit
        self._clock = clock
        self._connection = db.connection(settings)

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
        return self._post(transfer, state="posted", post_to=None, debit_condition=debit_condition,
                          credit_sets=credit_sets, extra=extra, debit_sets=debit_sets)

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
        transfer.check()
        records = []
        deltas: dict[str, int] = {}
        for each in (transfer, *linked):
            each.check()
            records.append(self._record(each, each.debit_account, state="posted", post_to=None))
            deltas[each.debit_account] = deltas.get(each.debit_account, 0) - each.amount_satang
            deltas[each.credit_account] = deltas.get(each.credit_account, 0) + each.amount_satang
        tx = _Tx(self._connection)
        tx.put_record("transfer", records[0])
        for index, record in enumerate(records[1:]):
            tx.put_record(f"linked:{index}", record)
        for item in extra:
            tx.add(item)
        for account_id, delta in deltas.items():
            if delta == 0:
                continue
            tx.update_balance(f"account:{account_id}", account_id, delta)
        if len(tx) > self.item_limit:
            raise ValueError(f"{len(tx)} items exceed the transaction limit of {self.item_limit}")
        try:
            with_retries("post_linked", tx.commit)
        except TransactWriteError as exc:
            failed = tx.failures(exc)
            if not failed:
                raise
            if "transfer" in failed:
                return Posted(self._existing(transfer, failed["transfer"]), created=False)
            for item in extra:
                if item.tag in failed:
                    raise ConditionFailedError(item.tag, failed[item.tag]) from exc
            for tag, item in failed.items():
                if tag.startswith("account:"):
                    account_id = tag.partition(":")[2]
                    raise InsufficientFundsError(account_id, -deltas[account_id], item) from exc
            raise
        return Posted(records[0], created=True)

    def hold(self, transfer: Transfer, post_to: str) -> Posted:
        """First phase of a two-phase transfer: the money moves to
        ``transfer.credit_account`` (a holding account such as in-flight at a
        bank) and waits there until ``settle`` sends it on to ``post_to`` or
        ``void`` returns it to where it came from."""
        accounts.kind_of(post_to)
        return self._post(transfer, state="pending", post_to=post_to, debit_condition=None,
                          credit_sets=None, extra=())

    def settle(self, transfer_id: str, details: Mapping[str, Any] | None = None) -> Posted:
        return self._resolve(transfer_id, "posted", details)

    def void(self, transfer_id: str, details: Mapping[str, Any] | None = None) -> Posted:
        return self._resolve(transfer_id, "voided", details)

    def _post(
        self,
        transfer: Transfer,
        *,
        state: str,
        post_to: str | None,
        debit_condition: Condition | None,
        credit_sets: Mapping[str, str] | None,
        extra: Sequence[ExtraWrite],
        debit_sets: Mapping[str, str] | None = None,
    ) -> Posted:
        transfer.check()
        record = self._record(transfer, transfer.debit_account, state=state, post_to=post_to)
        tx = _Tx(self._connection)
        tx.put_record("transfer", record)
        for item in extra:
            tx.add(item)
        tx.update_balance("debit", transfer.debit_account, -transfer.amount_satang, sets=debit_sets,
                          extra=debit_condition)
        tx.update_balance("credit", transfer.credit_account, transfer.amount_satang, sets=credit_sets)
        try:
            with_retries("post", tx.commit)
        except TransactWriteError as exc:
            failed = tx.failures(exc)
            if not failed:
                raise
            if "transfer" in failed:
                return Posted(self._existing(transfer, failed["transfer"]), created=False)
            for item in extra:
                if item.tag in failed:
                    raise ConditionFailedError(item.tag, failed[item.tag]) from exc
            if "debit" in failed:
                item = failed["debit"]
                if item is None or int(item.get("balance_satang", 0)) < transfer.amount_satang:
                    raise InsufficientFundsError(transfer.debit_account, transfer.amount_satang, item) from exc
                raise ConditionFailedError("debit", item) from exc
            raise
        return Posted(record, created=True)

    def _existing(self, transfer: Transfer, item: dict[str, Any] | None) -> TransferRecord:
        existing = TransferRecord.from_item(item) if item else self.get_transfer(transfer.transfer_id)
        if existing is None or not existing.same_as(transfer):
            raise TransferMismatchError(transfer.transfer_id, item or {})
        return existing

    def _resolve(self, transfer_id: str, outcome: str, details: Mapping[str, Any] | None) -> Posted:
        pending = self.get_transfer(transfer_id)
        if pending is None or pending.post_to is None:
            raise PendingStateError(transfer_id, None)
        target = pending.post_to if outcome == "posted" else pending.debit_account
        move = Transfer(
            transfer_id=f"{transfer_id}.{'post' if outcome == 'posted' else 'void'}",
            debit_account=pending.credit_account,
            credit_account=target,
            amount_satang=pending.amount_satang,
            kind=f"{pending.kind}_{outcome}",
            details=details,
        )
        if pending.state == outcome:
            existing = self.get_transfer(move.transfer_id)
            if existing is not None:
                return Posted(existing, created=False)
        if pending.state != "pending":
            raise PendingStateError(transfer_id, pending.state)
        mark = ExtraWrite(
            tag="pending",
            item=TransferModel(transfer_id),
            condition=TransferModel.state == "pending",
            actions=[TransferModel.state.set(outcome)],
        )
        try:
            return self._post(move, state="posted", post_to=None, debit_condition=None,
                              credit_sets=None, extra=[mark])
        except ConditionFailedError as exc:
            # Another worker resolved it between our read and our write.
            now = (exc.item or {}).get("state")
            if now == outcome:
                existing = self.get_transfer(move.transfer_id)
                if existing is not None:
                    return Posted(existing, created=False)
            raise PendingStateError(transfer_id, now) from exc

    def post_batch(self, sources: Sequence[str], credits: Sequence[BatchCredit], kind: str) -> BatchResult:
        """Credit many accounts from one of ``sources`` (e.g. treasury shards).

        Each transaction debits one source once with the sum of its credits
        and holds as many credits as the item limit allows (2 items each plus
        the source). A source that cannot cover a transaction hands it to the
        next; a credit that already exists is taken out and the rest posted
        again, so each is posted exactly once. Credits no source can cover
        come back in ``unfunded``.
        """
        if not sources:
            raise ValueError("post_batch needs at least one source")
        result = BatchResult()
        for chunk in self._chunks(credits, set(sources)):
            self._post_chunk(list(sources), chunk, kind, result)
        return result

    def _chunks(self, credits: Sequence[BatchCredit], sources: set[str]) -> Iterator[list[BatchCredit]]:
        """Transactions as full as the item limit allows, where no account
        appears twice: DynamoDB refuses two operations on one item."""
        per_tx = max(1, (self.item_limit - 1) // 2)
        chunk: list[BatchCredit] = []
        seen: set[str] = set()
        for credit in credits:
            if credit.credit_account in sources:
                raise ValueError(f"{credit.transfer_id} credits a source of its own batch")
            if len(chunk) == per_tx or credit.credit_account in seen:
                yield chunk
                chunk, seen = [], set()
            chunk.append(credit)
            seen.add(credit.credit_account)
        if chunk:
            yield chunk

    def _post_chunk(self, sources: list[str], chunk: list[BatchCredit], kind: str, result: BatchResult) -> None:
        first = _stable_index(chunk[0].transfer_id, len(sources))
        order = sources[first:] + sources[:first]
        tried = 0
        while chunk:
            source = order[tried]
            total = sum(c.amount_satang for c in chunk)
            records = []
            tx = _Tx(self._connection)
            for credit in chunk:
                transfer = Transfer(credit.transfer_id, source, credit.credit_account, credit.amount_satang,
                                    kind, details=credit.details)
                transfer.check()
                record = self._record(transfer, source, state="posted", post_to=None)
                records.append(record)
                tx.put_record(credit.transfer_id, record)
            for credit in chunk:
                tx.update_balance(f"credit:{credit.transfer_id}", credit.credit_account, credit.amount_satang,
                                  sets=credit.credit_sets)
            tx.update_balance("source", source, -total)
            try:
                with_retries("post_batch", tx.commit)
            except TransactWriteError as exc:
                failed = tx.failures(exc)
                done = [c for c in chunk if c.transfer_id in failed]
                if done:
                    for credit in done:
                        probe = Transfer(credit.transfer_id, source, credit.credit_account,
                                         credit.amount_satang, kind)
                        result.existing.append(self._existing(probe, failed[credit.transfer_id]))
                    chunk = [c for c in chunk if c.transfer_id not in failed]
                    continue
                if "source" in failed:
                    tried += 1
                    if tried < len(order):
                        continue
                    if len(chunk) == 1:
                        result.unfunded.extend(chunk)
                        return
                    # No source covers the sum: the remainders may still
                    # cover some credits one by one.
                    for credit in chunk:
                        self._post_chunk(sources, [credit], kind, result)
                    return
                raise
            result.transactions += 1
            result.created.extend(records)
            return

    # -- building blocks -----------------------------------------------------

    def _record(self, transfer: Transfer, debit_account: str, *, state: str, post_to: str | None) -> TransferRecord:
        return TransferRecord(
            transfer_id=transfer.transfer_id,
            kind=transfer.kind,
            debit_account=debit_account,
            credit_account=transfer.credit_account,
            amount_satang=transfer.amount_satang,
            state=state,
            created_at=self._clock(),
            post_to=post_to,
            fingerprint=transfer.fingerprint,
            details=dict(transfer.details) if transfer.details else {},
        )

    # -- reads ---------------------------------------------------------------

    def get_transfer(self, transfer_id: str) -> TransferRecord | None:
        try:
            return TransferRecord.from_model(TransferModel.get(transfer_id, consistent_read=True))
        except TransferModel.DoesNotExist:
            return None

    def account(self, account_id: str) -> AccountModel | None:
        try:
            return AccountModel.get(account_id, consistent_read=True)
        except AccountModel.DoesNotExist:
            return None

    def balance(self, account_id: str) -> int:
        found = self.account(account_id)
        return int(found.balance_satang) if found else 0

    def history(self, history_key: str, limit: int = 50, cursor: str | None = None) -> HistoryPage:
        """Transfers of one owner (wallet or merchant), newest first."""
        if not 1 <= limit <= PAGE_SIZE_MAX:
            raise ValueError(f"limit must be 1..{PAGE_SIZE_MAX}")
        before = _decode_cursor(cursor) if cursor else _CURSOR_END
        out = TransferModel.debit_history_index.query(
            history_key, TransferModel.history_sort < before, scan_index_forward=False, limit=limit + 1)
        into = TransferModel.credit_history_index.query(
            history_key, TransferModel.history_sort < before, scan_index_forward=False, limit=limit + 1)
        merged = heapq.merge(
            ((m, "out") for m in out), ((m, "in") for m in into),
            key=lambda pair: pair[0].history_sort, reverse=True,
        )
        page = []
        for model, direction in merged:
            page.append((model, direction))
            if len(page) > limit:
                break
        next_cursor = _encode_cursor(page[limit - 1][0].history_sort) if len(page) > limit else None
        return HistoryPage([(TransferRecord.from_model(m), d) for m, d in page[:limit]], next_cursor)

    def iter_accounts(self) -> Iterator[AccountModel]:
        return AccountModel.scan(page_size=SCAN_PAGE_SIZE)

    def summary(self) -> dict[str, Any]:
        """The ledger summary of API.md, from every balance.

        ``balanced`` holds when what the budget funded equals the sum of
        every other bucket and no account that may not go below zero did.
        """
        buckets = dict.fromkeys(accounts.SUMMARY_BUCKETS, 0)
        funded = 0
        negative = []
        for account in self.iter_accounts():
            balance = int(account.balance_satang)
            bucket = accounts.bucket_of(account.account_id)
            if bucket is None:
                funded -= balance
            else:
                buckets[bucket] += balance
            if balance < 0 and not accounts.may_go_negative(account.account_id):
                negative.append(account.account_id)
        held = sum(buckets.values())
        return {
            "funded_satang": funded,
            **buckets,
            "balanced": funded == held and not negative,
            "negative_accounts": len(negative),
        }
