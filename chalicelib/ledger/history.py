"""The transaction list of one owner (wallet or merchant), newest first.

Read from the two sparse history indexes of the transfers table (debits and
credits of the owner), merged; the cursor is the sort key of the last item
shown, so pages neither repeat nor skip whatever is posted meanwhile.
"""
from __future__ import annotations

import base64
import heapq

from chalicelib.ledger.models import TransferModel
from chalicelib.ledger.reads import record_of
from chalicelib.ledger.records import HistoryPage
from chalicelib.limits import PAGE_SIZE_MAX

__all__ = ["history", "encode_cursor", "decode_cursor"]

_CURSOR_END = "~"  # sorts after every ``<iso time>#<id>``


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        value = base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("cursor is not one this API returned") from exc
    if "#" not in value:
        raise ValueError("cursor is not one this API returned")
    return value


def history(history_key: str, limit: int = 50, cursor: str | None = None) -> HistoryPage:
    """Transfers of one owner, newest first; ValueError on a bad limit or cursor."""
    if not 1 <= limit <= PAGE_SIZE_MAX:
        raise ValueError(f"limit must be 1..{PAGE_SIZE_MAX}")
    before = decode_cursor(cursor) if cursor else _CURSOR_END
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
    next_cursor = encode_cursor(page[limit - 1][0].history_sort) if len(page) > limit else None
    return HistoryPage([(record_of(m), d) for m, d in page[:limit]], next_cursor)
