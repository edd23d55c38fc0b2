"""The status queue's handler: pacs.002 statuses from the banks settle or
reject payouts (BANKS.md).

At-least-once in both directions, so every status is handled as if it may
come twice, late or out of order:
- a status for a payout that is not final resolves it (``ACSC``: settle,
  ``RJCT``: the money back to the source), once;
- a second status that agrees with the final one is ignored; one that
  contradicts it is an alert (``contradicting_status``) and nothing moves;
- a status naming no payout of that bank is an alert (``unknown_payout``);
- a status that is not valid is an alert (``unparseable_message``) and the
  others of its message still count;
- a message that cannot be parsed at all goes to the status queue's
  dead-letter queue at once and raises an alert.
A fault (DynamoDB throttling) fails only that message, after the rest of it
is done: SQS gives it again, and what was done is not done twice. The
statuses of a message are applied side by side (``WALLET_STATUS_WORKERS``,
8; each is its own payout's transactions).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from pynamodb.exceptions import PynamoDBException

from chalicelib import alerts, queues
from chalicelib.clock import utcnow
from chalicelib.config import get_settings
from chalicelib.lazy import lazy_module
from chalicelib.ledger import ConditionFailedError, Ledger, PendingStateError
from chalicelib.payouts import steps
from chalicelib.payouts.models import PayoutModel
from chalicelib.payouts.rules import ACSC, FINAL, BankStatus, MessageError, final_status_of, parse_status_message
from chalicelib.phases.counters import count

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities import batch
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
else:
    batch = lazy_module("aws_lambda_powertools.utilities.batch")  # the status queue's worker only, not the API

__all__ = ["handle_sqs_event", "handle_message", "apply_status", "STATUS_ERRORS_MAX"]

logger = Logger(service="payouts")
# Bytes of an unparseable message's error text kept in its alert.
STATUS_ERRORS_MAX = 200


def _unparseable(body: str, error: str) -> None:
    queues.send_text(queues.dlq_short_name(queues.STATUS_QUEUE), body)
    digest = hashlib.sha256(body.encode()).hexdigest()
    alerts.raise_alert("unparseable_message", digest, {
        "queue": queues.STATUS_QUEUE, "error": error[:STATUS_ERRORS_MAX], "body_sha256": digest,
        "bytes": len(body.encode())})


def _count_returned(item: PayoutModel) -> None:
    """A cash transfer rejected now: its phase's progress shows the money
    back in the treasury. A counter that fails to move costs a figure, never
    the status (logged; the ledger holds the truth)."""
    if item.kind != "cash_transfer" or not item.phase_id:
        return
    try:
        count(item.phase_id, payouts_rejected_count=1, payouts_returned_satang=int(item.amount_satang))
    except (PynamoDBException, ClientError):
        logger.exception("phase counter not moved", extra={"payout_id": item.payout_id})


def apply_status(bank_code: str, status: BankStatus, ledger: Ledger, now: datetime) -> str:
    """What one status did: settled, rejected, duplicate, contradiction or unknown."""
    item = steps.get_payout(status.end_to_end_id)
    if item is None or item.bank_code != bank_code:
        alerts.raise_alert("unknown_payout", f"{bank_code}:{status.end_to_end_id}:{status.status}", {
            "end_to_end_id": status.end_to_end_id, "bank_code": bank_code, "status": status.status})
        return "unknown"
    wanted = final_status_of(status.status)
    if item.status not in FINAL:
        try:
            if status.status == ACSC:
                posted = steps.settle(ledger, item, status.settled_at, now)
            else:
                posted = steps.reject(ledger, item, status.reason_code, now)
                if posted.created:
                    _count_returned(item)
            # Resolved by this status, or by a duplicate racing it (the ledger replays the first).
            return wanted if posted.created else "duplicate"
        except (PendingStateError, ConditionFailedError):
            # Resolved meanwhile by another worker: judge against that.
            item = steps.get_payout(status.end_to_end_id) or item
    if item.status == wanted:
        return "duplicate"
    alerts.raise_alert("contradicting_status", f"{item.payout_id}:{status.status}", {
        "payout_id": item.payout_id, "bank_code": bank_code, "status_here": item.status,
        "bank_status": status.status, "reason_code": status.reason_code or ""})
    return "contradiction"


def handle_message(body: str, ledger: Ledger | None = None, now: Callable[[], datetime] = utcnow) -> dict[str, int]:
    """One status message; returns counts by outcome."""
    try:
        message = parse_status_message(json.loads(body))
    except (ValueError, MessageError) as exc:
        _unparseable(body, str(exc) if isinstance(exc, MessageError) else "not JSON")
        return {"unparseable": 1}
    ledger = ledger or Ledger()
    counts: dict[str, int] = {}
    for index, why in message.bad:
        alerts.raise_alert("unparseable_message", f"{message.msg_id}:{index}", {
            "msg_id": message.msg_id, "bank_code": message.bank_code, "index": index, "error": why})
        counts["invalid"] = counts.get("invalid", 0) + 1
    faults: list[Exception] = []

    def one(status: BankStatus) -> str:
        try:
            return apply_status(message.bank_code, status, ledger, now())
        except Exception as exc:  # the others first; this message comes back
            faults.append(exc)
            return "failed"

    # Statuses of different payouts go side by side; a payout named twice in
    # one message gets its second status after its first, in a later round.
    rounds: list[list[BankStatus]] = []
    seen: dict[str, int] = {}
    for status in message.statuses:
        nth = seen.get(status.end_to_end_id, 0)
        seen[status.end_to_end_id] = nth + 1
        if nth == len(rounds):
            rounds.append([])
        rounds[nth].append(status)
    with ThreadPoolExecutor(get_settings().status_workers) as pool:
        for batch in rounds:
            for outcome in pool.map(one, batch):
                counts[outcome] = counts.get(outcome, 0) + 1
    logger.info("status message", extra={"msg_id": message.msg_id, "bank_code": message.bank_code, **counts})
    for outcome in ("settled", "rejected"):
        steps.count_payouts(message.bank_code, outcome, counts.get(outcome, 0))
    if faults:
        raise faults[0]
    return counts


def handle_sqs_event(event: Mapping[str, Any], context: Any = None) -> PartialItemFailureResponse:
    """The status queue's Lambda handler (ReportBatchItemFailures, see infra/)."""
    def record_handler(record: Any) -> Any:
        return handle_message(record.body)

    processor = batch.BatchProcessor(event_type=batch.EventType.SQS, raise_on_entire_batch_failure=False)
    return batch.process_partial_response(event=dict(event), record_handler=record_handler,
                                    processor=processor, context=context)
