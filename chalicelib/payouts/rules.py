"""Pure rules of payouts: states, the holding account's shard, the business
day, and the ISO 20022 messages of BANKS.md (pacs.008 out, pacs.002 in) as
JSON. No I/O, no AWS library."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib import limits
from chalicelib.clock import parse_iso

__all__ = [
    "KINDS", "BREAK_KINDS", "STATUSES", "FINAL", "PENDING", "SENT", "SETTLED", "REJECTED",
    "ACSC", "RJCT", "REASON_CODES", "TRANSACTIONS_PER_MESSAGE_MAX", "HOLD_SHARDS",
    "BANGKOK", "shard_of", "business_date", "final_status_of",
    "Creditor", "Instruction", "instruction_message", "BankStatus", "StatusMessage", "MessageError",
    "parse_status_message",
]

KINDS = ("withdrawal", "cash_transfer")
# What a reconciliation finds (chalicelib/payouts/reconciliation.py).
BREAK_KINDS = ("missing_here", "missing_in_statement", "amount_differs")
PENDING, SENT, SETTLED, REJECTED = "pending", "sent", "settled", "rejected"
STATUSES = (PENDING, SENT, SETTLED, REJECTED)
FINAL = frozenset({SETTLED, REJECTED})
ACSC, RJCT = "ACSC", "RJCT"
REASON_CODES = ("AC01", "AC04", "AC06", "AM05", "MS03")
TRANSACTIONS_PER_MESSAGE_MAX = limits.BANK_MESSAGE_TRANSACTIONS_MAX
# Items each bank's in-flight and paid-out accounts are split into: every
# payout of a bank passes through them twice (hold, settle), and one item
# takes about 500 transactional writes a second.
HOLD_SHARDS = 16
# Thai banks' business day.
BANGKOK = timezone(timedelta(hours=7))
_PURPOSES = {"withdrawal": "merchant_cash_out", "cash_transfer": "cash_transfer"}


def shard_of(payout_id: str) -> int:
    return int(hashlib.sha256(payout_id.encode()).hexdigest()[:8], 16) % HOLD_SHARDS


def business_date(moment: str | datetime) -> str:
    """The Bangkok business day (YYYY-MM-DD) of a time."""
    when = parse_iso(moment) if isinstance(moment, str) else moment
    return when.astimezone(BANGKOK).strftime("%Y-%m-%d")


def final_status_of(bank_status: str) -> str:
    return SETTLED if bank_status == ACSC else REJECTED


@dataclass(frozen=True)
class Creditor:
    name: str
    id_kind: str  # account_no | promptpay_id
    id_value: str


@dataclass(frozen=True)
class Instruction:
    payout_id: str
    kind: str
    amount_satang: int
    creditor: Creditor


def instruction_message(msg_id: str, bank_code: str, created_at: str,
                        instructions: Sequence[Instruction]) -> dict[str, Any]:
    """A bulk pacs.008 of 1..500 credit transfers for one bank."""
    if not 1 <= len(instructions) <= TRANSACTIONS_PER_MESSAGE_MAX:
        raise ValueError(f"a pacs.008 carries 1..{TRANSACTIONS_PER_MESSAGE_MAX} transactions")
    return {"message_type": "pacs.008", "msg_id": msg_id, "created_at": created_at, "bank_code": bank_code,
            "transactions": [{
                "end_to_end_id": each.payout_id, "amount_satang": each.amount_satang, "currency": "THB",
                "purpose": _PURPOSES[each.kind],
                "creditor": {"name": each.creditor.name, each.creditor.id_kind: each.creditor.id_value},
            } for each in instructions]}


class MessageError(ValueError):
    """A message (or one status of it) that is not a pacs.002 of BANKS.md."""


@dataclass(frozen=True)
class BankStatus:
    end_to_end_id: str
    status: str
    reason_code: str | None
    settled_at: str | None


@dataclass(frozen=True)
class StatusMessage:
    msg_id: str
    bank_code: str
    statuses: list[BankStatus]
    # (index in the message, what is wrong) of each status that is not valid
    bad: list[tuple[int, str]]


def _status(raw: Any) -> BankStatus:
    if not isinstance(raw, Mapping):
        raise MessageError("a status is not an object")
    e2e, status = raw.get("original_end_to_end_id"), raw.get("status")
    if not isinstance(e2e, str) or not 1 <= len(e2e) <= 200:
        raise MessageError("original_end_to_end_id is missing")
    if status not in (ACSC, RJCT):
        raise MessageError(f"status must be {ACSC} or {RJCT}")
    reason = raw.get("reason_code")
    if reason is not None and reason not in REASON_CODES:
        raise MessageError(f"reason_code must be one of {', '.join(REASON_CODES)} or null")
    settled_at = raw.get("settled_at")
    if settled_at is not None:
        try:
            parse_iso(settled_at)
        except (ValueError, TypeError) as exc:
            raise MessageError("settled_at is not an RFC 3339 time") from exc
    return BankStatus(e2e, status, reason, settled_at)


def parse_status_message(message: Any) -> StatusMessage:
    """The envelope must be a pacs.002 of a known bank with 1..500 statuses
    (MessageError otherwise: the whole message is unparseable); a status
    that is not valid is listed in ``bad`` and the others stand."""
    if not isinstance(message, Mapping) or message.get("message_type") != "pacs.002":
        raise MessageError("not a pacs.002 message")
    msg_id, bank_code, statuses = message.get("msg_id"), message.get("bank_code"), message.get("statuses")
    if not isinstance(msg_id, str) or not msg_id:
        raise MessageError("msg_id is missing")
    if bank_code not in limits.BANK_CODES:
        raise MessageError("bank_code is not a participating bank")
    if not isinstance(statuses, list) or not 1 <= len(statuses) <= TRANSACTIONS_PER_MESSAGE_MAX:
        raise MessageError(f"statuses must be a list of 1..{TRANSACTIONS_PER_MESSAGE_MAX}")
    good, bad = [], []
    for index, raw in enumerate(statuses):
        try:
            good.append(_status(raw))
        except MessageError as exc:
            bad.append((index, str(exc)))
    return StatusMessage(msg_id, bank_code, good, bad)
