"""The operators' list of payouts (``GET /v1/admin/payouts``), newest first.

Read from ``bank-index`` (bank_code, ``<created_at>#<payout_id>``): one
bank is one query; without ``bank_code`` the banks' queries are merged by
time, and the cursor is the last item's sort key, so that the next page
continues every bank from there. ``status`` and ``kind`` filter.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib import limits
from chalicelib.errors import InvalidRequestError
from chalicelib.payouts.exceptions import PayoutNotFoundError
from chalicelib.payouts.models import PayoutModel
from chalicelib.payouts.steps import get_payout
from chalicelib.payouts.views import payout_body

__all__ = ["list_payouts", "get_payout_body"]

# A cursor is a list_sort value: ``<created_at>#<payout_id>``.
_SORT_KEY = re.compile(f"[0-9T:.Z-]{{20,40}}#{limits.PAYOUT_ID_PATTERN}")


def _cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        key = ""
    if not _SORT_KEY.fullmatch(key):
        raise InvalidRequestError("cursor", "cursor must be the next_cursor of an earlier page; start without it.")
    return key


def _filter(status: str | None, kind: str | None) -> Condition | None:
    condition: Condition | None = None
    for attribute, value in ((PayoutModel.status, status), (PayoutModel.kind, kind)):
        if value:
            part = attribute == value
            condition = part if condition is None else condition & part
    return condition


def _newest(bank_code: str, before: str | None, wanted: int, condition: Condition | None) -> list[PayoutModel]:
    """Up to ``wanted`` payouts of one bank older than ``before`` that pass ``condition``."""
    found: list[PayoutModel] = []
    start = None
    while len(found) < wanted:
        query = PayoutModel.bank_index.query(
            bank_code, PayoutModel.list_sort < before if before else None, scan_index_forward=False,
            limit=wanted - len(found), last_evaluated_key=start, filter_condition=condition)
        found.extend(query)
        start = query.last_evaluated_key
        if not start:
            break
    return found


def list_payouts(bank_code: str | None, status: str | None, kind: str | None, limit: int,
                 cursor: str | None, banks: Iterable[str] = limits.BANK_CODES) -> dict[str, Any]:
    before = _cursor(cursor)
    condition = _filter(status, kind)
    merged: list[PayoutModel] = []
    for bank in ([bank_code] if bank_code else sorted(banks)):
        merged.extend(_newest(bank, before, limit + 1, condition))
    merged.sort(key=lambda item: item.list_sort, reverse=True)
    page, more = merged[:limit], len(merged) > limit
    next_cursor = base64.urlsafe_b64encode(page[-1].list_sort.encode()).decode().rstrip("=") if more else None
    return {"items": [payout_body(i) for i in page], "next_cursor": next_cursor}


def get_payout_body(payout_id: str) -> dict[str, Any]:
    item = get_payout(payout_id)
    if item is None:
        raise PayoutNotFoundError()
    return payout_body(item)
