"""Request specs of withdrawals and the operators' payout list."""
from __future__ import annotations

from chalicelib import limits
from chalicelib.payouts.rules import KINDS, STATUSES
from chalicelib.validation import BankCode, Enum, Money, Obj, Opt, Params, Str, UrlInt

__all__ = ["WITHDRAWAL_BODY", "WITHDRAWAL_ID_PATH", "PAYOUT_ID_PATH", "PAYOUTS_QUERY"]

_ID = Str(4, limits.PAYOUT_ID_CHARS_MAX, limits.PAYOUT_ID_PATTERN, "a payout id as the API gave it (wd_... or ct_...)")

# Only the amount: the money goes to the shop's registered account, always.
WITHDRAWAL_BODY = Obj({"amount_satang": Money()})
WITHDRAWAL_ID_PATH = Params("path", {"withdrawal_id": _ID})
PAYOUT_ID_PATH = Params("path", {"payout_id": _ID})
PAYOUTS_QUERY = Params("query", {
    "bank_code": Opt(BankCode()),
    "status": Opt(Enum(*STATUSES)),
    "kind": Opt(Enum(*KINDS)),
    "limit": Opt(UrlInt(1, limits.PAGE_SIZE_MAX), default=limits.PAGE_SIZE_DEFAULT),
    "cursor": Opt(Str(1, limits.CURSOR_CHARS_MAX, hint="the next_cursor of the page before")),
})
