"""Use cases of activation: the scheduled planner, the operator's
``activate`` and the SQS worker that does one message's work.

The planner is cheap and runs every minute: it reads the phase definitions
(a handful of items) and the runs of each phase, and sends a run's messages
(one per bucket not yet done) when the run becomes due, or again when its
lease ran out without it finishing.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib import audit, db, functions, observability, queues, rolling
from chalicelib.activation import plan as planning
from chalicelib.activation.cash import CashTransferCrediter
from chalicelib.activation.crediting import (
    BUDGET_EXHAUSTED,
    MESSAGE_WORK_BUDGET_S,
    Crediter,
    WalletCrediter,
    credit_bucket,
    expire_bucket,
)
from chalicelib.activation.late import credit_marked, treasury_satang
from chalicelib.activation.models import RunModel, run_key
from chalicelib.activation.phase_store import default_source
from chalicelib.activation.source import PhaseSource
from chalicelib.clock import iso, parse_iso, utcnow
from chalicelib.config import get_settings
from chalicelib.errors import InvalidRequestError, NotFoundError
from chalicelib.lazy import lazy_module
from chalicelib.phases.counters import tally_spending

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities import batch
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
else:
    batch = lazy_module("aws_lambda_powertools.utilities.batch")  # the queue's worker only, not the API

__all__ = [
    "ACTIVATION_QUEUE",
    "Sender",
    "run_schedule",
    "activate",
    "dispatch",
    "handle_work_item",
    "crediter_for",
    "handle_sqs_event",
    "message_budget_s",
    "PAGE_OVERRUN_S",
]

logger = observability.component_logger()

# A message stops at the first page boundary after its budget: what one page
# of ledger transactions may take past it, kept back from the time it has.
# `python -m bench --only functions`: a page of 200 took 4.9 s at worst (on
# DynamoDB Local, 50 transactions; 5 on AWS); twice that, rounded up.
PAGE_OVERRUN_S = 10.0

# Short name of the work queue (declared in chalicelib.queues, which app.py
# reads without loading this module).
ACTIVATION_QUEUE = queues.ACTIVATION_QUEUE

Sender = Callable[[dict[str, Any]], None]


def _send(body: dict[str, Any]) -> None:
    queues.send_json(ACTIVATION_QUEUE, body)


def _send_all(bodies: list[dict[str, Any]], send: Sender) -> None:
    """The messages of a dispatch: ten a call to SQS (an operator's activate
    sends a few hundred within its request), one by one to another sender."""
    if send is _send:
        queues.send_json_batch(ACTIVATION_QUEUE, bodies)
        return
    for body in bodies:
        send(body)


def _claim(phase_id: str, run: planning.RunRef, existing: RunModel | None, now: datetime, final: bool) -> bool:
    """Take the right to send a run's messages now: of two planners that
    overlap, one wins the conditional write and the other sends nothing."""
    key = run_key(run.op, run.wave, run.tranche)
    stamp = iso(now)
    try:
        if existing is None:
            RunModel(phase_id, key, op=run.op, wave=run.wave, tranche=run.tranche, status="running",
                     started_at=stamp, dispatched_at=stamp,
                     final=final or None).save(condition=RunModel.run_key.does_not_exist())
        else:
            actions: list[Action] = [RunModel.status.set("running"), RunModel.dispatched_at.set(stamp),
                                     RunModel.stopped_reason.remove()]
            if final:
                actions.append(RunModel.final.set(True))
            existing.update(
                actions=actions,
                condition=(RunModel.dispatched_at == existing.dispatched_at) & (RunModel.status != "done"),
            )
    except (PutError, UpdateError) as exc:
        if db.condition_failed(exc):
            return False
        raise
    if existing is None or existing.status != "running":
        # A wave's tranche starting (or started again) is a phase change: audited.
        audit.audit(audit.system(), "activation_run_started", f"phase:{phase_id}",
                    {"run": key, "op": run.op, "wave": run.wave, "tranche": run.tranche})
    return True


def dispatch(source: PhaseSource, plan: planning.PhasePlan, run: planning.RunRef, now: datetime,
             forced: bool = False, send: Sender = _send) -> int:
    """Send the run's messages if it is time; returns how many were sent."""
    key = run_key(run.op, run.wave, run.tranche)
    try:
        existing: RunModel | None = RunModel.get(plan.phase_id, key, consistent_read=True)
    except RunModel.DoesNotExist:
        existing = None
    status = existing.status if existing else None
    sent_at = parse_iso(existing.dispatched_at) if existing else None
    # A credit run's sweep is final once registration closed and the index
    # settled; the first final sweep of a running run is sent at once.
    final = run.op == planning.CREDIT and planning.registration_settled(plan, now)
    was_final = bool(existing is not None and existing.final)
    final_due = final and status == "running" and not was_final
    if status == "stopped" and existing is not None and existing.stopped_reason == BUDGET_EXHAUSTED:
        # The budget was raised: resume without anyone calling activate.
        amount = plan.tranches[run.tranche - 1].amount_satang if run.op == planning.CREDIT else 1
        final_due = treasury_satang(plan.phase_id, get_settings().treasury_shards) >= amount
    if not planning.should_dispatch(status, sent_at, now, forced, final_due):
        return 0
    if run.op == planning.CREDIT:
        # Freeze the money-shaping fields first (the phase's mark, and the
        # run itself, which ``progress.started`` reads), then read them
        # again: an operator's edit that raced in before the freeze is what
        # the messages carry.
        source.mark_started(plan.phase_id, now)
    if not _claim(plan.phase_id, run, existing, now, final):
        return 0
    if run.op == planning.CREDIT:
        definition = source.definition(plan.phase_id)
        if definition is None:
            return 0
        plan = planning.PhasePlan.from_definition(plan.phase_id, definition)
    if final:
        finished = existing.final_buckets_done if existing is not None and was_final else None
    else:
        finished = existing.buckets_done if existing is not None else None
    done = set(int(b) for b in (finished or set()))
    items = planning.work_items(plan, run, done, recheck=existing is not None, final=final)
    if existing is not None and existing.status == "running" and not forced:
        # The lease ran out before the run finished: its workers are stuck or
        # failing (the "activation stalled" alarm counts these).
        observability.count("ActivationRedispatched", Op=run.op)
    _send_all([item.to_body() for item in items], send)
    logger.info("run dispatched", extra={"phase_id": plan.phase_id, "run": key, "messages": len(items),
                                         "forced": forced})
    return len(items)


def _plan(phase_id: str, definition: Mapping[str, Any]) -> planning.PhasePlan | None:
    try:
        return planning.PhasePlan.from_definition(phase_id, definition)
    except (KeyError, TypeError, ValueError):
        logger.error("phase definition unreadable; skipped", extra={"phase_id": phase_id})
        return None


def run_schedule(now: datetime | None = None, source: PhaseSource | None = None,
                 send: Sender = _send) -> dict[str, int]:
    """The scheduled job: send every due credit and expiry run of every
    phase. Running it twice, or two at once, sends a run once."""
    now = now or utcnow()
    source = source or default_source()
    sent: dict[str, int] = {}
    for phase_id, definition in source.definitions():
        plan = _plan(phase_id, definition)
        if plan is None:
            continue
        credit_runs = planning.due_credit_runs(plan, now)
        for run in credit_runs + planning.due_expiry_runs(plan, now):
            count = dispatch(source, plan, run, now, send=send)
            if count:
                sent[f"{phase_id}:{run_key(run.op, run.wave, run.tranche)}"] = count
        if credit_runs and rolling.sweeping(plan.registration_closes_at, now):
            late = _send_late(plan, now, send)
            if late:
                sent[f"{phase_id}:{planning.LATE}"] = late
        if credit_runs and plan.is_wallet:
            # Off the payment path: the phase's payments since the last run.
            tally_spending(phase_id, now)
    return sent


LATE_KEY = run_key(planning.LATE, 0)
# A new round of late messages goes out once every shard of the last round
# finished, or this long after it was sent (a message lost with a crash).
LATE_LEASE_S = 60


def _claim_late(phase_id: str, now: datetime, forced: bool) -> bool:
    """One round of late messages in flight per phase: the schedule (every
    second locally) never piles them up faster than workers take them."""
    try:
        existing: RunModel | None = RunModel.get(phase_id, LATE_KEY, consistent_read=True)
    except RunModel.DoesNotExist:
        existing = None
    stamp = iso(now)
    try:
        if existing is None:
            RunModel(phase_id, LATE_KEY, op=planning.LATE, wave=0, tranche=0, status="running", started_at=stamp,
                     dispatched_at=stamp).save(condition=RunModel.run_key.does_not_exist())
            return True
        finished = len(existing.buckets_done or set()) >= rolling.SHARDS
        lease_over = now >= parse_iso(existing.dispatched_at) + timedelta(seconds=LATE_LEASE_S)
        if not (forced or finished or lease_over):
            return False
        existing.update(actions=[RunModel.dispatched_at.set(stamp), RunModel.buckets_done.remove()],
                        condition=RunModel.dispatched_at == existing.dispatched_at)
    except (PutError, UpdateError) as exc:
        if db.condition_failed(exc):
            return False
        raise
    return True


def _send_late(plan: planning.PhasePlan, now: datetime, send: Sender, forced: bool = False) -> int:
    """The marked citizens of every shard, credited by the next messages."""
    if not _claim_late(plan.phase_id, now, forced):
        return 0
    items = planning.late_items(plan)
    _send_all([item.to_body() for item in items], send)
    return len(items)


def finish_late(item: planning.WorkItem) -> None:
    """A late message's shard is done: the next round may go out."""
    RunModel(item.phase_id, LATE_KEY).update(actions=[RunModel.buckets_done.add({item.bucket})])


def activate(phase_id: str, wave: int | None = None, now: datetime | None = None,
             source: PhaseSource | None = None, send: Sender = _send) -> dict[str, Any]:
    """``POST /v1/admin/phases/{id}/activate``: send the due credit runs of
    the phase (or one wave) now, also ones already running or stopped (an
    operator who raised the budget). Safe to call repeatedly: the ledger's
    transfer ids make every citizen's credit happen once."""
    now = now or utcnow()
    source = source or default_source()
    definition = source.definition(phase_id)
    if definition is None:
        raise NotFoundError(f"No phase {phase_id}.")
    plan = planning.PhasePlan.from_definition(phase_id, definition)
    if wave is not None and not 1 <= wave <= plan.wave_count:
        raise InvalidRequestError("wave", f"wave must be 1..{plan.wave_count} for this phase")
    runs = planning.due_credit_runs(plan, now, wave)
    dispatched = []
    for run in runs:
        count = dispatch(source, plan, run, now, forced=True, send=send)
        dispatched.append({"wave": run.wave, "tranche": run.tranche, "messages": count})
    body: dict[str, Any] = {"phase_id": phase_id, "status": "accepted", "runs": dispatched}
    if runs:
        body["late_messages"] = _send_late(plan, now, send, forced=True)
    if not runs:
        upcoming = [planning.credit_due_at(plan, w, 1) for w in range(1, plan.wave_count + 1)]
        first = min((t for t in upcoming if t > now), default=None)
        body["note"] = ("nothing is due yet: each wave is credited from its activate_at on"
                        + (f"; the next at {iso(first)}" if first is not None else ""))
    return body


def message_budget_s(context: Any) -> float:
    """How long one message may work: its share of the invocation's time
    left (the middleware's per-record context tells the share), less one
    page's overrun; at least one page is always done."""
    time_left = functions.time_left(context)
    if time_left is None:
        return float(MESSAGE_WORK_BUDGET_S)
    return max(0.0, time_left() - PAGE_OVERRUN_S)


def crediter_for(kind: str) -> Crediter:
    """What a credit of a phase of ``kind`` is: a wallet issuance, or a
    cash-transfer payout through the banks. Rolling is the same for both."""
    if kind == planning.CASH_TRANSFER_KIND:
        return CashTransferCrediter()
    return WalletCrediter()


def handle_work_item(item: planning.WorkItem, source: PhaseSource | None = None,
                     send: Sender = _send, budget_s: float = MESSAGE_WORK_BUDGET_S) -> dict[str, Any]:
    """Do one message's work within ``budget_s``; a bucket too large for it
    goes on in a continuation message."""
    if item.op == planning.LATE:
        phases = source or default_source()
        definition = phases.definition(item.phase_id)
        kind = str((definition or {}).get("kind", planning.WALLET_KIND))
        outcome = credit_marked(item, definition, crediter=crediter_for(kind),
                                on_stopped=lambda reason: phases.mark_stopped(item.phase_id, reason, utcnow()))
        finish_late(item)
    elif item.op == planning.CREDIT:
        outcome = credit_bucket(item, budget_s=budget_s, crediter=crediter_for(item.kind))
        if outcome.stopped:
            (source or default_source()).mark_stopped(item.phase_id, BUDGET_EXHAUSTED, utcnow())
        if item.kind == planning.WALLET_KIND:  # payouts count themselves (Payouts by Bank and Status)
            observability.count("WalletsCredited", outcome.credited_count, Op=item.op)
            observability.count("CreditedSatang", outcome.credited_satang, Op=item.op)
    else:
        outcome = expire_bucket(item, budget_s=budget_s)
        observability.count("WalletsExpired", outcome.expired_count, Op=item.op)
    if outcome.finished:
        observability.count("ActivationBucketsDone", Op=item.op)
    if outcome.continuation is not None:
        send(outcome.continuation)
    return {"credited": outcome.credited_count, "expired": outcome.expired_count,
            "finished": outcome.finished, "skipped": outcome.skipped}


def handle_sqs_event(event: Mapping[str, Any], context: Any = None,
                     handle: Callable[[planning.WorkItem], Any] | None = None) -> PartialItemFailureResponse:
    """The activation queue's Lambda handler: each record is one work item;
    the records that failed come back in ``batchItemFailures`` so SQS
    redelivers only those (the event source needs ReportBatchItemFailures,
    see infra/)."""
    def record_handler(record: Any) -> Any:
        item = planning.WorkItem.from_body(record.body)
        if int(record.attributes.approximate_receive_count or 1) > 1 and not item.recheck:
            item = dataclasses.replace(item, recheck=True)  # a redelivery: part may be done
        if handle is not None:
            return handle(item)
        return handle_work_item(item, budget_s=message_budget_s(context))

    processor = batch.BatchProcessor(event_type=batch.EventType.SQS, raise_on_entire_batch_failure=False)
    return batch.process_partial_response(event=dict(event), record_handler=record_handler,
                                    processor=processor, context=context)
