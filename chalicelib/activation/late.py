"""Crediting marked citizens one by one: the work of one ``late`` message
(one shard of the marks' index, chalicelib/rolling.py).

Each marked registration gets the tranches that are due and that a run's
sweep may have missed for it; its mark is removed once every such tranche
is credited. What "credit" means is a ``Crediter``'s: ``wallet_crediter``
issues wallet money (ledger ``iss:`` transfers, batched so that a treasury
shard is debited once per transaction); a cash-transfer payout can plug in
another. The ledger's transfer ids make every credit once: a message
delivered twice, two workers on one shard, a run's sweep crediting the same
citizen, or a crash after the credit and before the mark's removal (the next
pass finds the credit there and only removes the mark).

Per marked citizen: a share of one index page read, a share of one
existence read and of one ledger transaction, and one write removing the
mark; a treasury read per (wave, tranche) stopped for budget.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from aws_lambda_powertools import Logger
from pynamodb.exceptions import UpdateError

from chalicelib import db, rolling
from chalicelib.activation import plan as planning
from chalicelib.activation.crediting import (
    BUDGET_EXHAUSTED,
    PAGE_SIZE,
    BucketOutcome,
    Credited,
    Crediter,
    Due,
    WalletCrediter,
    stop_run,
)
from chalicelib.activation.models import RunModel, run_key
from chalicelib.clock import parse_iso, utcnow
from chalicelib.config import get_settings
from chalicelib.ledger import AccountModel, Ledger, accounts
from chalicelib.registration.models import RegistrationModel

__all__ = ["Credited", "Crediter", "wallet_crediter", "credit_marked", "treasury_satang"]

logger = Logger(service="activation")
ACCEPTED = "accepted"


def treasury_satang(phase_id: str, shards: int) -> int:
    """What the phase's treasury holds, over its shards (one batch read)."""
    ids = [accounts.treasury_shard(phase_id, i) for i in range(shards)]
    return sum(int(a.balance_satang or 0) for a in AccountModel.batch_get(ids, consistent_read=True))


def wallet_crediter(ledger: Ledger | None = None, shards: int | None = None) -> Crediter:
    """Wallet issuance (a mark may have been credited by a run's sweep or an
    earlier pass: the late path always looks first)."""
    return WalletCrediter(ledger, shards)


def _marks(phase_id: str, shard: int) -> Iterator[list[RegistrationModel]]:
    start = None
    while True:
        results = RegistrationModel.by_due.query(rolling.due_key(phase_id, shard), limit=PAGE_SIZE,
                                                 last_evaluated_key=start)
        page = list(results)
        start = results.last_evaluated_key
        yield page
        if not start:
            return


def _clear(mark: RegistrationModel) -> bool:
    try:
        mark.update(actions=[RegistrationModel.due_key.remove()], condition=RegistrationModel.due_key.exists())
    except UpdateError as exc:
        if db.condition_failed(exc):
            return False  # removed by another pass (the index lags behind)
        raise
    return True


def _runs(phase_id: str) -> Mapping[tuple[int, int], RunModel]:
    return {(int(r.wave), int(r.tranche)): r
            for r in RunModel.query(phase_id, RunModel.run_key.startswith(f"{planning.CREDIT}#"),
                                    consistent_read=True)}


def _fundable(plan: planning.PhasePlan, run: RunModel, tranche: int, shards: int,
              cache: dict[str, int]) -> bool:
    """A run stopped for budget is tried again only when the treasury
    covers one more credit (an operator raised the budget)."""
    if run.status != "stopped":
        return True
    if "satang" not in cache:
        cache["satang"] = treasury_satang(plan.phase_id, shards)
    return cache["satang"] >= plan.tranches[tranche - 1].amount_satang


def credit_marked(
    item: planning.WorkItem,
    definition: Mapping[str, object] | None,
    crediter: Crediter | None = None,
    clock: Callable[[], datetime] | None = None,
    treasury_shards: int | None = None,
    on_stopped: Callable[[str], None] | None = None,
) -> BucketOutcome:
    """Credit the marked registrations of one shard with what is due."""
    outcome = BucketOutcome()
    if definition is None:
        outcome.skipped = "no_phase"
        return outcome
    plan = planning.PhasePlan.from_definition(item.phase_id, definition)
    crediter = crediter or wallet_crediter()
    shards = treasury_shards or get_settings().treasury_shards
    clock = clock or utcnow
    runs = _runs(item.phase_id)
    treasury: dict[str, int] = {}
    for page in _marks(item.phase_id, item.bucket):
        outcome.pages += 1
        now = clock()
        groups: dict[tuple[int, int], list[RegistrationModel]] = defaultdict(list)
        covered: dict[str, tuple[list[datetime], datetime, RegistrationModel]] = {}
        for mark in page:
            if mark.status != ACCEPTED or not mark.wave:
                continue
            wave = int(mark.wave)
            if not 1 <= wave <= plan.wave_count:
                continue
            due = planning.tranche_due_times(plan, wave)
            accepted_at = parse_iso(mark.created_at)
            covered[mark.registration_key] = (due, accepted_at, mark)
            for tranche in rolling.due_tranches(due, accepted_at, now):
                run = runs.get((wave, tranche))
                # No run yet: the planner has not reached it (it freezes the
                # phase first); the next pass credits.
                if run is not None and _fundable(plan, run, tranche, shards, treasury):
                    groups[(wave, tranche)].append(mark)
        served: dict[str, set[int]] = defaultdict(set)
        for (wave, tranche), subjects in sorted(groups.items()):
            tranche_of = plan.tranches[tranche - 1]
            result = crediter(Due(plan.phase_id, wave, tranche, tranche_of.amount_satang, plan.expires_after_days,
                                  plan.payout_bank_code), subjects, now, recheck=True)
            outcome.credited_count += result.created
            outcome.credited_satang += result.satang
            for subject in result.served:
                served[subject].add(tranche)
            if result.unfunded:
                outcome.unfunded_count += len(result.unfunded)
                outcome.stopped = True
                stop_run(item.phase_id, run_key(planning.CREDIT, wave, tranche), BUDGET_EXHAUSTED, now)
                if on_stopped is not None:
                    on_stopped(BUDGET_EXHAUSTED)
                logger.warning("budget exhausted; marked citizens wait",
                               extra={"phase_id": item.phase_id, "wave": wave, "tranche": tranche,
                                      "unfunded": len(result.unfunded)})
        for subject, (due, accepted_at, mark) in covered.items():
            if rolling.mark_served(due, accepted_at, now, served.get(subject, set())) and _clear(mark):
                outcome.marks_cleared += 1
    outcome.finished = True
    return outcome
