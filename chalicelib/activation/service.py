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
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib import audit, db, queues, rolling
from chalicelib.activation import plan as planning
from chalicelib.activation.crediting import BUDGET_EXHAUSTED, credit_bucket, expire_bucket
from chalicelib.activation.late import credit_marked, treasury_satang
from chalicelib.activation.models import RunModel, run_key
from chalicelib.activation.phase_store import default_source
from chalicelib.activation.source import PhaseSource
from chalicelib.clock import iso, parse_iso, utcnow
from chalicelib.config import get_settings
from chalicelib.errors import InvalidRequestError, NotFoundError
from chalicelib.phases.counters import tally_spending

__all__ = [
    "ACTIVATION_QUEUE",
    "Sender",
    "run_schedule",
    "activate",
    "dispatch",
    "handle_work_item",
    "handle_sqs_event",
]

logger = Logger(service="activation")

# Short name of the work queue (chalicelib.queues.QUEUES).
ACTIVATION_QUEUE = "activation"

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
        if not plan.is_wallet:
            # Payouts of cash-transfer phases go through the banks (later).
            logger.info("cash_transfer phase: activation skipped", extra={"phase_id": phase_id})
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
        if credit_runs:
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
    if not plan.is_wallet:
        body["note"] = "cash_transfer phases are paid out through the banks, not activated"
    elif not runs:
        upcoming = [planning.credit_due_at(plan, w, 1) for w in range(1, plan.wave_count + 1)]
        first = min((t for t in upcoming if t > now), default=None)
        body["note"] = ("nothing is due yet: each wave is credited from its activate_at on"
                        + (f"; the next at {iso(first)}" if first is not None else ""))
    return body


def handle_work_item(item: planning.WorkItem, source: PhaseSource | None = None,
                     send: Sender = _send) -> dict[str, Any]:
    """Do one message's work; a bucket too large for one message goes on
    in a continuation message."""
    if item.op == planning.LATE:
        phases = source or default_source()
        outcome = credit_marked(item, phases.definition(item.phase_id),
                                on_stopped=lambda reason: phases.mark_stopped(item.phase_id, reason, utcnow()))
        finish_late(item)
    elif item.op == planning.CREDIT:
        outcome = credit_bucket(item)
        if outcome.stopped:
            (source or default_source()).mark_stopped(item.phase_id, BUDGET_EXHAUSTED, utcnow())
    else:
        outcome = expire_bucket(item)
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
    work = handle or handle_work_item

    def record_handler(record: Any) -> Any:
        item = planning.WorkItem.from_body(record.body)
        if int(record.attributes.approximate_receive_count or 1) > 1 and not item.recheck:
            item = dataclasses.replace(item, recheck=True)  # a redelivery: part may be done
        return work(item)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=dict(event), record_handler=record_handler,
                                    processor=processor, context=context)
