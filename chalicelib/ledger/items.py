"""The ledger's own items of a transaction, as low-level requests.

Every payment and every issued wallet writes these, and building them
through PynamoDB models cost about a fifth of the Python time of a batched
issuance: so the transfer record and the balance updates are written here
as DynamoDB's own request shapes. Callers' extra items (``ExtraWrite``) keep
their models and conditions. The parts of each condition are named as
Powertools names them (``#balance``, ``:debit_satang``).

Tags (``chalicelib.db.Transaction``): ``record:<transfer_id>``,
``balance:<account_id>``, ``pending:<transfer_id>``, ``extra:<caller's tag>``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib import db
from chalicelib.ledger import accounts
from chalicelib.ledger.models import AccountModel, TransferModel
from chalicelib.ledger.records import PENDING, ExtraWrite, TransferRecord

__all__ = ["RECORD", "BALANCE", "PENDING_MARK", "EXTRA", "SETTABLE", "put_record", "update_balance",
           "mark_resolved", "add_extra"]

RECORD, BALANCE, PENDING_MARK, EXTRA = "record", "balance", "pending", "extra"
# Attributes of a balance item a posting may set in the same write.
SETTABLE = frozenset({"status", "expires_at"})

# The record is new: its id is the idempotency key.
_RECORD_IS_NEW = "attribute_not_exists(#transfer_id)"
# A debit may not take a balance below zero (the budget account aside).
_COVERS_DEBIT = "#balance >= :debit_satang"
_STILL_PENDING = "#state = :pending"


def put_record(tx: db.Transaction, record: TransferRecord) -> None:
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
        "feed_key": record.feed,
    }
    item.update({name: {"S": value} for name, value in optional.items() if value is not None})
    if record.details:
        item["details"] = {"M": TransferModel.details.serialize(record.details)}
    tx.put(f"{RECORD}:{record.transfer_id}", {
        "TableName": db.table_name(TransferModel),
        "Item": item,
        "ConditionExpression": _RECORD_IS_NEW,
        "ExpressionAttributeNames": {"#transfer_id": "transfer_id"},
    })


def update_balance(tx: db.Transaction, account_id: str, delta_satang: int, *,
                   sets: Mapping[str, str] | None = None, condition: Condition | None = None,
                   tallies: Mapping[str, int] | None = None, counters: Mapping[str, int] | None = None) -> None:
    """Add ``delta_satang`` to a balance (creating it with its kind on the
    first credit) and set ``sets`` (``status``, ``expires_at``) in the same
    write, on condition that ``condition`` holds and that a debit is covered
    by the balance, unless the account may go below zero (the budget).
    ``tallies`` (accounts.TALLIES) and a caller's ``counters``
    (accounts.check_counter) are added in the same write."""
    names = {"#balance": "balance_satang", "#kind": "kind", "#last_tx": accounts.LAST_TX}
    values: dict[str, Any] = {":delta_satang": {"N": str(delta_satang)},
                              ":kind": {"S": accounts.kind_of(account_id).value}, ":last_tx": {"S": tx.id}}
    # last_tx: the balances' stream tells which changes are one transaction's
    # (the ledger summary counts a transaction whole or not at all).
    assignments = ["#kind = if_not_exists(#kind, :kind)", "#last_tx = :last_tx"]
    for name, value in (sets or {}).items():
        if name not in SETTABLE:
            raise ValueError(f"a posting may set {' or '.join(sorted(SETTABLE))} of a balance, not {name}")
        names[f"#{name}"], values[f":{name}"] = name, {"S": value}
        assignments.append(f"#{name} = :{name}")
    adds = ["#balance :delta_satang"]
    for i, (name, amount) in enumerate(sorted((tallies or {}).items())):
        if name not in accounts.TALLIES:
            raise ValueError(f"{name} is not a tally of a balance (accounts.TALLIES)")
        names[f"#tally{i}"], values[f":tally{i}"] = name, {"N": str(amount)}
        adds.append(f"#tally{i} :tally{i}")
    for i, (name, amount) in enumerate(sorted((counters or {}).items())):
        accounts.check_counter(account_id, name)
        names[f"#counter{i}"], values[f":counter{i}"] = name, {"N": str(amount)}
        adds.append(f"#counter{i} :counter{i}")
    conditions = []
    if delta_satang < 0 and not accounts.may_go_negative(account_id):
        conditions.append(_COVERS_DEBIT)
        values[":debit_satang"] = {"N": str(-delta_satang)}
    if condition is not None:
        # PynamoDB's placeholders are numbered (#0, :0), so they cannot
        # clash with the named ones, and its AND, OR and NOT come in
        # parentheses already.
        placeholders: dict[str, str] = {}
        conditions.append(condition.serialize(placeholders, values))
        names.update({placeholder: name for name, placeholder in placeholders.items()})
    request: dict[str, Any] = {
        "TableName": db.table_name(AccountModel),
        "Key": {"account_id": {"S": account_id}},
        "UpdateExpression": f"SET {', '.join(assignments)} ADD {', '.join(adds)}",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    if conditions:
        request["ConditionExpression"] = " AND ".join(conditions)
    tx.update(f"{BALANCE}:{account_id}", request)


def mark_resolved(tx: db.Transaction, transfer_id: str, outcome: str) -> None:
    """A pending transfer becomes ``outcome`` (posted or voided), once."""
    tx.update(f"{PENDING_MARK}:{transfer_id}", {
        "TableName": db.table_name(TransferModel),
        "Key": {"transfer_id": {"S": transfer_id}},
        "UpdateExpression": "SET #state = :outcome",
        "ConditionExpression": _STILL_PENDING,
        "ExpressionAttributeNames": {"#state": "state"},
        "ExpressionAttributeValues": {":outcome": {"S": outcome}, ":pending": {"S": PENDING}},
    })


def add_extra(tx: db.Transaction, extra: ExtraWrite) -> None:
    tag = f"{EXTRA}:{extra.tag}"
    if extra.actions is None:
        tx.put_model(tag, extra.item, extra.condition)
    else:
        tx.update_model(tag, extra.item, extra.actions, extra.condition)
