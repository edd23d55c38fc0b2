"""What the API shows of a payout (API.md): to its shop as a withdrawal, to
operators as a payout. Never the creditor's account or name."""
from __future__ import annotations

from typing import Any

from chalicelib.payouts.models import PayoutModel

__all__ = ["payout_body", "withdrawal_body"]


def _common(item: PayoutModel) -> dict[str, Any]:
    out: dict[str, Any] = {"bank_code": item.bank_code, "amount_satang": int(item.amount_satang),
                           "status": item.status, "inquiry": bool(item.inquiry), "created_at": item.created_at}
    for name in ("reason", "sent_at", "settled_at"):
        value = getattr(item, name)
        if value:
            out[name] = value
    return out


def payout_body(item: PayoutModel) -> dict[str, Any]:
    return {"payout_id": item.payout_id, "kind": item.kind, **_common(item)}


def withdrawal_body(item: PayoutModel) -> dict[str, Any]:
    return {"withdrawal_id": item.payout_id, **_common(item)}
