"""Crediting one bucket of a wave-tranche, and the expiry sweep of one
bucket of a wave: the work of one activation message.

Each citizen's credit is the ledger transfer
``iss:<phase>:<tranche>:<wallet_id>``, and each expiry ``exp:<wallet_id>``:
the ledger refuses a second transfer of an id that exists, so a message
delivered twice, two overlapping runs or a rerun after a crash credit no one
twice; a bucket is marked done only after its last page, so a crash
half-way leaves it to be finished by the redelivered message or the next
dispatch. Counters move only for transfers created now.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pynamodb.exceptions import UpdateError

from chalicelib import audit, db, observability
from chalicelib.activation import plan as planning
from chalicelib.activation.models import RunModel, run_key
from chalicelib.activation.progress import count
from chalicelib.clock import iso, utcnow
from chalicelib.config import Settings, get_settings
from chalicelib.ledger import (
    AccountModel,
    BatchCredit,
    ConditionFailedError,
    InsufficientFundsError,
    Ledger,
    Transfer,
    TransferModel,
    accounts,
)
from chalicelib.limits import ACTIVATION_BUCKETS
from chalicelib.phases.counters import credit_counters
from chalicelib.registration.models import RegistrationModel, wave_bucket_key

__all__ = [
    "PAGE_SIZE",
    "MESSAGE_WORK_BUDGET_S",
    "BUDGET_EXHAUSTED",
    "BucketOutcome",
    "Due",
    "Credited",
    "Crediter",
    "WalletCrediter",
    "due_of",
    "pool_treasury",
    "Issued",
    "issue",
    "credit_bucket",
    "expire_bucket",
    "stop_run",
]

logger = observability.component_logger()

# Registrations read per index page; a page is credited in ceil(page /
# credits-per-transaction) ledger transactions.
PAGE_SIZE = 200
# A message works at most this long, then hands the rest of its bucket to a
# continuation message, far inside the Lambda timeout and SQS visibility.
MESSAGE_WORK_BUDGET_S = 120
BUDGET_EXHAUSTED = "budget_exhausted"
ACCEPTED = "accepted"
ACTIVE = "active"
EXPIRED = "expired"


@dataclass
class BucketOutcome:
    credited_count: int = 0
    credited_satang: int = 0
    existing_count: int = 0
    unfunded_count: int = 0
    expired_count: int = 0
    expired_satang: int = 0
    not_yet_expired: int = 0
    marks_cleared: int = 0
    pages: int = 0
    finished: bool = False
    stopped: bool = False
    skipped: str | None = None
    continuation: dict[str, Any] | None = field(default=None)


@functools.lru_cache(maxsize=4)
def _cached_ledger(settings: Settings) -> Ledger:
    return Ledger(settings)


def _default_ledger() -> Ledger:
    """One ledger (one botocore client, whose creation costs ~0.3 s) per
    process and settings, as Lambda keeps it across calls of a container."""
    return _cached_ledger(get_settings())


def _now() -> datetime:
    # Looked up at call time, so that tests can move the clock.
    return utcnow()


_CREDIT_ATTRIBUTES = ["registration_key", "status", "wallet_id"]


@dataclass(frozen=True)
class Due:
    """One tranche of one wave, as a credit of it is made: the frozen
    amounts of a run's message, or of the phase for a marked citizen."""

    phase_id: str
    wave: int
    tranche: int
    amount_satang: int
    expires_after_days: int
    bank_code: str | None = None  # a cash transfer's bank


@dataclass
class Credited:
    """What a crediter did with a group of registrations (by registration key)."""

    served: set[str] = field(default_factory=set)  # credited now or before
    unfunded: set[str] = field(default_factory=set)  # the budget does not cover them
    created: int = 0
    satang: int = 0


class Crediter(Protocol):
    """What a credit is: rolling activation (a run's sweep, the marks) says
    who is due, a crediter makes each one's credit, once (its ledger
    transfer id is derived from the phase, the tranche and the citizen)."""

    # What of a registration it reads (the sweep's index page projects only these).
    attributes: Sequence[str]

    def __call__(self, due: Due, registrations: Sequence[RegistrationModel], now: datetime,
                 recheck: bool) -> Credited:
        """Credit ``due`` to each accepted registration once; ``recheck``:
        some may be credited already (look first)."""


def _pages(item: planning.WorkItem, attributes: Sequence[str] = tuple(_CREDIT_ATTRIBUTES)
           ) -> Iterator[tuple[list[RegistrationModel], str | None]]:
    """Pages of the bucket's accepted registrations, each with the cursor
    that resumes after it (None after the last)."""
    start = json.loads(item.cursor) if item.cursor else None
    key = wave_bucket_key(item.phase_id, item.wave, item.bucket)
    while True:
        # Only what crediting reads: a page is up to PAGE_SIZE whole items otherwise.
        results = RegistrationModel.by_wave.query(key, limit=PAGE_SIZE, last_evaluated_key=start,
                                                  attributes_to_get=list(attributes))
        page = list(results)
        start = results.last_evaluated_key
        yield page, (json.dumps(start, sort_keys=True) if start else None)
        if not start:
            return


def _wallets(page: list[RegistrationModel]) -> list[str]:
    seen: dict[str, None] = {}
    for registration in page:
        if registration.status == ACCEPTED and registration.wallet_id:
            seen.setdefault(registration.wallet_id, None)
    return list(seen)


def _run(item: planning.WorkItem) -> RunModel | None:
    tranche = item.tranche if item.op == planning.CREDIT else 0
    try:
        return RunModel.get(item.phase_id, run_key(item.op, item.wave, tranche), consistent_read=True)
    except RunModel.DoesNotExist:
        return None


def _existing_transfers(transfer_ids: list[str]) -> set[str]:
    """Which of these transfers exist already: a cheap read that spares a
    rerun a failed transaction per page. The ledger stays the judge: an id
    this read misses is still refused by the ledger's condition."""
    if not transfer_ids:
        return set()
    return {m.transfer_id for m in TransferModel.batch_get(transfer_ids, attributes_to_get=["transfer_id"])}


def stop_run(phase_id: str, key: str, reason: str, now: datetime) -> None:
    """Mark a run stopped (e.g. budget exhausted); the planner leaves it
    until an operator activates it again."""
    try:
        RunModel(phase_id, key).update(
            actions=[RunModel.status.set("stopped"), RunModel.stopped_reason.set(reason),
                     RunModel.finished_at.set(iso(now))],
            condition=RunModel.status == "running",
        )
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
        return
    audit.audit(audit.system(), "activation_run_stopped", f"phase:{phase_id}", {"run": key, "reason": reason})


def pool_treasury(ledger: Ledger, phase_id: str, shards: int) -> None:
    """Move what is left on every treasury shard to shard 0 (transfers
    between the phase's own shards: the budget is unchanged), so that the
    last credits of a budget are not stranded across shards."""
    target = accounts.treasury_shard(phase_id, 0)
    for index in range(1, shards):
        source = accounts.treasury_shard(phase_id, index)
        balance = ledger.balance(source)
        if balance <= 0:
            continue
        try:
            ledger.post(Transfer(f"pool:{phase_id}:{index}:{uuid.uuid4().hex}", source, target, balance,
                                 "treasury_pool"))
        except InsufficientFundsError:
            continue  # another worker spent or moved it meanwhile


def _finish_bucket(item: planning.WorkItem, key: str, now: datetime) -> None:
    """Record a finished bucket; the run is done when every bucket is, and
    for a credit run only by its final sweep (after registration closed):
    until then citizens are still being accepted into the wave."""
    run = RunModel(item.phase_id, key)
    if item.op == planning.CREDIT and not item.final:
        run.update(actions=[RunModel.buckets_done.add({item.bucket})])
        return
    if item.op == planning.CREDIT:
        run.update(actions=[RunModel.final_buckets_done.add({item.bucket})])  # refreshes ``run``
        done = run.final_buckets_done or set()
    else:
        run.update(actions=[RunModel.buckets_done.add({item.bucket})])
        done = run.buckets_done or set()
    if len(done) >= ACTIVATION_BUCKETS and run.status == "running":
        try:
            run.update(actions=[RunModel.status.set("done"), RunModel.finished_at.set(iso(now))],
                       condition=RunModel.status == "running")
        except UpdateError as exc:
            if not db.condition_failed(exc):
                raise
            return
        logger.info("run done", extra={"phase_id": item.phase_id, "run": key})
        audit.audit(audit.system(), "activation_run_done", f"phase:{item.phase_id}", {"run": key})


def _continue(item: planning.WorkItem, cursor: str, outcome: BucketOutcome) -> BucketOutcome:
    outcome.continuation = dataclasses.replace(item, cursor=cursor).to_body()
    return outcome


@dataclass
class Issued:
    """What one call of ``issue`` did, by wallet id."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    unfunded: list[str] = field(default_factory=list)
    satang: int = 0


def issue(phase_id: str, wave: int, tranche: int, amount_satang: int, expires_after_days: int,
          wallets: list[str], ledger: Ledger, shards: int, now: datetime, recheck: bool) -> Issued:
    """Credit tranche ``tranche`` to each of ``wallets`` once, in batches
    that debit a treasury shard once per transaction, and count what was
    posted now (citizens at their first tranche, credits per tranche) on
    the treasury shard that paid it, in the same transaction."""
    issued = Issued()
    ids = {w: planning.issuance_transfer_id(phase_id, tranche, w) for w in wallets}
    wallet_of = {transfer_id: w for w, transfer_id in ids.items()}
    done = _existing_transfers(list(ids.values())) if recheck else set()
    issued.existing.extend(wallet_of[t] for t in done)
    sets = {"status": ACTIVE, "expires_at": planning.expires_at_for(now, expires_after_days)}
    details = {"phase_id": phase_id, "wave": wave, "tranche": tranche}
    # The phase's progress, counted by the treasury shard that pays each
    # credit, in the credit's own transaction (exact even after a crash).
    counted = credit_counters(wave, tranche, amount_satang)
    credits = [
        BatchCredit(transfer_id=ids[w], credit_account=accounts.wallet_account(w),
                    amount_satang=amount_satang, credit_sets=sets, details=details, source_counters=counted)
        for w in wallets if ids[w] not in done
    ]
    if not credits:
        return issued
    sources = [accounts.treasury_shard(phase_id, i) for i in range(shards)]
    result = ledger.post_batch(sources, credits, kind="issuance")
    if result.unfunded:
        # The shards together may still cover credits that no single
        # shard could: pool the remainders and try those once more.
        pool_treasury(ledger, phase_id, shards)
        retry = ledger.post_batch(sources, result.unfunded, kind="issuance")
        result.created.extend(retry.created)
        result.existing.extend(retry.existing)
        result.unfunded = retry.unfunded
    issued.created.extend(wallet_of[r.transfer_id] for r in result.created)
    issued.existing.extend(wallet_of[r.transfer_id] for r in result.existing)
    issued.unfunded.extend(wallet_of[c.transfer_id] for c in result.unfunded)
    issued.satang = sum(r.amount_satang for r in result.created)
    return issued


class WalletCrediter:
    """Wallet issuance (ledger ``iss:`` transfers, batched so that a treasury
    shard is debited once per transaction)."""

    attributes: Sequence[str] = tuple(_CREDIT_ATTRIBUTES)

    def __init__(self, ledger: Ledger | None = None, shards: int | None = None) -> None:
        self.ledger = ledger or _default_ledger()
        self.shards = shards or get_settings().treasury_shards

    def __call__(self, due: Due, registrations: Sequence[RegistrationModel], now: datetime,
                 recheck: bool) -> Credited:
        key_of = {r.wallet_id: r.registration_key for r in registrations
                  if r.status == ACCEPTED and r.wallet_id}
        issued = issue(due.phase_id, due.wave, due.tranche, due.amount_satang, due.expires_after_days,
                       list(key_of), self.ledger, self.shards, now, recheck)
        return Credited(served={key_of[w] for w in issued.created + issued.existing},
                        unfunded={key_of[w] for w in issued.unfunded}, created=len(issued.created),
                        satang=issued.satang)


def due_of(item: planning.WorkItem) -> Due:
    """The tranche a run's message credits, as it froze it."""
    return Due(item.phase_id, item.wave, item.tranche, item.amount_satang, item.expires_after_days, item.bank_code)


def credit_bucket(
    item: planning.WorkItem,
    ledger: Ledger | None = None,
    treasury_shards: int | None = None,
    clock: Callable[[], datetime] | None = None,
    budget_s: float = MESSAGE_WORK_BUDGET_S,
    crediter: Crediter | None = None,
) -> BucketOutcome:
    """Credit tranche ``item.tranche`` to every accepted citizen of one bucket
    (a wallet issuance unless ``crediter`` says what a credit is)."""
    clock = clock or _now
    crediter = crediter or WalletCrediter(ledger, treasury_shards)
    outcome = BucketOutcome()
    key = run_key(planning.CREDIT, item.wave, item.tranche)
    run = _run(item)
    if run is None or run.status != "running":
        # Not dispatched (a stray message), stopped for budget, or done.
        outcome.skipped = run.status if run is not None else "no_run"
        return outcome
    deadline = time.monotonic() + budget_s
    due = due_of(item)
    for page, cursor in _pages(item, crediter.attributes):
        outcome.pages += 1
        now = clock()
        issued = crediter(due, page, now, item.recheck)
        outcome.credited_count += issued.created
        outcome.credited_satang += issued.satang
        outcome.existing_count += len(issued.served) - issued.created
        if issued.unfunded:
            outcome.unfunded_count += len(issued.unfunded)
            outcome.stopped = True
            stop_run(item.phase_id, key, BUDGET_EXHAUSTED, now)
            logger.warning("budget exhausted; wave stopped",
                           extra={"phase_id": item.phase_id, "wave": item.wave,
                                  "tranche": item.tranche, "unfunded": len(issued.unfunded)})
            return outcome
        if cursor is None:
            break
        if time.monotonic() >= deadline:
            return _continue(item, cursor, outcome)
    _finish_bucket(item, key, clock())
    outcome.finished = True
    return outcome


def _expire_wallet(item: planning.WorkItem, account: AccountModel, now_iso: str,
                   ledger: Ledger, outcome: BucketOutcome) -> None:
    balance = int(account.balance_satang or 0)
    wallet_id = account.account_id.partition(":")[2]
    due = (AccountModel.status == ACTIVE) & (AccountModel.expires_at <= now_iso)
    if balance <= 0:
        try:
            account.update(actions=[AccountModel.status.set(EXPIRED)], condition=due)
        except UpdateError as exc:
            if not db.condition_failed(exc):
                raise
        return
    transfer = Transfer(planning.expiry_transfer_id(wallet_id), account.account_id,
                        accounts.returned(item.phase_id), balance, "expiry",
                        details={"phase_id": item.phase_id, "wave": item.wave})
    try:
        posted = ledger.post(transfer, debit_condition=due & (AccountModel.balance_satang == balance),
                             debit_sets={"status": EXPIRED})
    except (ConditionFailedError, InsufficientFundsError):
        # The balance moved between our read and the write: sweep it again.
        outcome.not_yet_expired += 1
        return
    if posted.created:
        outcome.expired_count += 1
        outcome.expired_satang += balance


def expire_bucket(
    item: planning.WorkItem,
    ledger: Ledger | None = None,
    clock: Callable[[], datetime] | None = None,
    budget_s: float = MESSAGE_WORK_BUDGET_S,
) -> BucketOutcome:
    """Return the remaining balance of every expired wallet of one bucket to
    the phase's ``returned`` account, and mark the wallet expired, once."""
    clock = clock or _now
    ledger = ledger or _default_ledger()
    outcome = BucketOutcome()
    key = run_key(planning.EXPIRE, item.wave)
    run = _run(item)
    if run is None or run.status != "running":
        outcome.skipped = run.status if run is not None else "no_run"
        return outcome
    deadline = time.monotonic() + budget_s
    for page, cursor in _pages(item):
        outcome.pages += 1
        now_iso = iso(clock())
        ids = [accounts.wallet_account(w) for w in _wallets(page)]
        found = list(AccountModel.batch_get(ids, consistent_read=True)) if ids else []
        before = outcome.expired_satang
        for account in found:
            if account.status != ACTIVE:
                continue  # expired already, or suspended by an operator
            if not account.expires_at or account.expires_at > now_iso:
                outcome.not_yet_expired += 1
                continue
            _expire_wallet(item, account, now_iso, ledger, outcome)
        count(item.phase_id, expired_satang=outcome.expired_satang - before)
        if cursor is None:
            break
        if time.monotonic() >= deadline:
            return _continue(item, cursor, outcome)
    if outcome.not_yet_expired == 0:
        _finish_bucket(item, key, clock())
        outcome.finished = True
    return outcome

