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

Within the invocation's time: a run starts no message it may not finish
(MESSAGE_RESERVE_S before the end), and the banks take turns at going first
(the order turns by one bank each minute), so a backlog at one bank, or a
run cut short, never leaves the same banks waiting run after run; what is
not sent goes on the next run, and the run's report names the banks it
deferred.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
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

__all__ = ["MESSAGES_PER_BANK_RUN_MAX", "MESSAGE_RESERVE_S", "dispatch_bank", "flag_timeouts", "in_turn",
           "run_schedule"]

# One run sends at most this many messages to one bank (10,000 payouts), so
# that one bank's backlog cannot hold the run past Lambda's budget; the
# rest goes on the next run.
MESSAGES_PER_BANK_RUN_MAX = 20
# Time one message takes, kept back from the end of the run: a read of 500
# pending payouts, the send and 500 conditional marks (`python -m bench --only
# functions`: 9-22 ms a payout at 512 MB, so ~11 s a message at worst), twice.
MESSAGE_RESERVE_S = 25.0
# A function's seconds left (Lambda's context); None: no limit (tests, scripts).
TimeLeft = Callable[[], float] | None

logger = Logger(service="payouts")


def _short(time_left: TimeLeft) -> bool:
    return time_left is not None and time_left() < MESSAGE_RESERVE_S


def dispatch_bank(bank_code: str, now: datetime | None = None,
                  per_message: int = TRANSACTIONS_PER_MESSAGE_MAX, time_left: TimeLeft = None) -> int:
    """Send the bank's pending payouts, starting no message when less than
    MESSAGE_RESERVE_S is left; returns how many were sent."""
    now = now or utcnow()
    try:
        check_switch("withdrawals", bank=bank_code)
    except PausedError:
        logger.info("payouts of this bank are paused; they wait in the ledger", extra={"bank_code": bank_code})
        return 0
    sent = 0
    for _ in range(MESSAGES_PER_BANK_RUN_MAX):
        if _short(time_left):
            break
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


def in_turn(banks: Iterable[str], now: datetime) -> list[str]:
    """The banks in code order, turned by one each minute: who goes first changes."""
    ordered = sorted(banks)
    if not ordered:
        return ordered
    turn = int(now.timestamp() // 60) % len(ordered)
    return ordered[turn:] + ordered[:turn]


def run_schedule(now: datetime | None = None, banks: Iterable[str] = limits.BANK_CODES,
                 time_left: TimeLeft = None) -> dict[str, Any]:
    """Every bank on its own: one bank's failure is logged and the others go
    on; the banks reached when time runs short are deferred to the next run."""
    now = now or utcnow()
    report: dict[str, Any] = {"sent": {}, "flagged": {}, "failed": [], "deferred": []}
    for bank_code in in_turn(banks, now):
        if _short(time_left):
            report["deferred"].append(bank_code)
            continue
        try:
            sent = dispatch_bank(bank_code, now, time_left=time_left)
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
    if report["deferred"]:
        logger.warning("the run's time ran out: these banks' payouts go on the next run",
                       extra={"deferred": report["deferred"]})
    return report
