"""The transaction lists of API.md, one shape for the wallet and the shop.

An item is ``{"transfer_id", "type", "amount_satang", "direction",
"created_at"}`` plus, where the other party is a shop, ``counterparty``
(its merchant_id) and ``counterparty_name`` (its name as it was at the
payment). Both lists give ``counterparty`` this one meaning. A citizen is
never a counterparty: a shop's list shows a citizen's payment without
anything that names or links the citizen (no wallet id), and the program's
own accounts (treasury, banks) are no party either.
"""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

from chalicelib.errors import InvalidRequestError
from chalicelib.ledger import Ledger, TransferRecord, accounts

__all__ = ["transaction_item", "transactions_page"]

_SHOP_KINDS = frozenset({accounts.AccountKind.MERCHANT_SPENDABLE, accounts.AccountKind.MERCHANT_WITHDRAWABLE})


def transaction_item(record: TransferRecord, direction: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "transfer_id": record.transfer_id,
        "type": record.kind,
        "amount_satang": record.amount_satang,
        "direction": direction,
        "created_at": record.created_at,
    }
    other = record.debit_account if direction == "in" else record.credit_account
    if accounts.kind_of(other) in _SHOP_KINDS:
        item["counterparty"] = accounts.merchant_of(other)
        # A payment's details name the payee (merchant_name) and, between
        # shops, the payer (payer_name): the name of the other side.
        name = record.details.get("merchant_name" if direction == "out" else "payer_name")
        if name:
            item["counterparty_name"] = name
    return item


def transactions_page(history_key: str, limit: int, cursor: str | None, ledger: Ledger | None = None,
                      hidden_kinds: Collection[str] = ()) -> dict[str, Any]:
    """A page of one owner's list, newest first: ``{"items", "next_cursor"}``
    (``limit`` and ``cursor`` as PAGE_QUERY parsed them)."""
    try:
        page = (ledger or Ledger()).history(history_key, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise InvalidRequestError("cursor", "cursor must be the next_cursor of an earlier page; "
                                            "start without it.") from exc
    items = [transaction_item(r, d) for r, d in page.items if r.kind not in hidden_kinds]
    return {"items": items, "next_cursor": page.next_cursor}
