"""The dispatcher (a schedule): each bank's pending payouts go to that
bank's own instruction queue as bulk pacs.008 messages of up to 500
transactions, then are marked ``sent``; and payouts that waited too long for
the bank's word are flagged for inquiry (never reversed) with an alert.

A bulkhead per bank: each bank is dispatched on its own, so a bank whose
queue fails, or whose payouts are paused (the ``withdrawals`` switch for
all or ``bank:<code>``), delays only its own payouts; they wait in the
ledger (in flight, ``pending``) and go when it is back. A crash between
sending and marking sends the same payouts again next time: the bank pays
each ``end_to_end_id`` once (BANKS.md), so that is harmless.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib import alerts, limits, queues
from chalicelib.clock import iso, utcnow
from chalicelib.errors import PausedError
from chalicelib.payouts import steps
from chalicelib.payouts.models import PayoutModel
from chalicelib.payouts.rules import TRANSACTIONS_PER_MESSAGE_MAX, Instruction, instruction_message
from chalicelib.switches import check_switch

__all__ = ["MESSAGES_PER_BANK_RUN_MAX", "dispatch_bank", "flag_timeouts", "run_schedule"]

# One run sends at most this many messages to one bank (10,000 payouts), so
# that one bank's backlog cannot hold the run past Lambda's budget; the
# rest goes on the next run.
MESSAGES_PER_BANK_RUN_MAX = 20

logger = Logger(service="payouts")


def dispatch_bank(bank_code: str, now: datetime | None = None,
                  per_message: int = TRANSACTIONS_PER_MESSAGE_MAX) -> int:
    """Send the bank's pending payouts; returns how many were sent."""
    now = now or utcnow()
    try:
        check_switch("withdrawals", bank=bank_code)
    except PausedError:
        logger.info("payouts of this bank are paused; they wait in the ledger", extra={"bank_code": bank_code})
        return 0
    sent = 0
    for _ in range(MESSAGES_PER_BANK_RUN_MAX):
        items = list(PayoutModel.dispatch_index.query(bank_code, limit=per_message))
        if not items:
            break
        msg_id = f"msg_{uuid.uuid4().hex}"
        message = instruction_message(msg_id, bank_code, iso(now), [
            Instruction(i.payout_id, i.kind, int(i.amount_satang), steps.creditor_of(i)) for i in items])
        queues.send_json(queues.bank_queue(bank_code), message)
        marked = sum(steps.mark_sent(i, msg_id, now) for i in items)
        # On the bank's queue (a payout the bank answered before its mark counts too).
        steps.count_payouts(bank_code, "sent", len(items))
        sent += len(items)
        logger.info("instruction sent", extra={"bank_code": bank_code, "msg_id": msg_id,
                                               "transactions": len(items), "marked_sent": marked})
        if len(items) < per_message:
            break
    return sent


def flag_timeouts(bank_code: str, now: datetime | None = None) -> int:
    """Flag for inquiry the bank's sent payouts whose time is up; returns how many."""
    now = now or utcnow()
    flagged = 0
    for item in PayoutModel.awaiting_index.query(bank_code, PayoutModel.timeout_at <= iso(now)):
        if steps.flag_inquiry(item):
            flagged += 1
            steps.count_payouts(bank_code, "inquiry")
            alerts.raise_alert("payout_timeout", item.payout_id, {
                "payout_id": item.payout_id, "bank_code": bank_code, "kind": item.kind,
                "amount_satang": int(item.amount_satang), "sent_at": item.sent_at or "",
                "timeout_hours": int(item.timeout_hours)})
    return flagged


def run_schedule(now: datetime | None = None, banks: Iterable[str] = limits.BANK_CODES) -> dict[str, Any]:
    """Every bank on its own: one bank's failure is logged and the others go on."""
    now = now or utcnow()
    report: dict[str, Any] = {"sent": {}, "flagged": {}, "failed": []}
    for bank_code in sorted(banks):
        try:
            sent = dispatch_bank(bank_code, now)
            flagged = flag_timeouts(bank_code, now)
        except Exception as exc:
            logger.error("dispatch of one bank failed; its payouts wait for the next run",
                         extra={"bank_code": bank_code, "error_type": type(exc).__name__})
            report["failed"].append(bank_code)
            continue
        if sent:
            report["sent"][bank_code] = sent
        if flagged:
            report["flagged"][bank_code] = flagged
    return report
