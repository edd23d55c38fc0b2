"""What activation and expiry must do, and when: pure functions of a phase
definition and the time. No I/O here.

Tranche k (1-based) of a citizen is due at their wave's ``activate_at`` plus
the tranche's ``after_days``, also while registration is still open: a run
then credits everyone accepted so far, and citizens accepted later (or just
before, whom the eventually consistent by-wave index may not show yet) are
credited one by one through their mark (chalicelib/rolling.py, op
``late``). A run stays ``running`` while registration is open; once it has
closed and ``INDEX_SETTLE_S`` passed, the run is sent once more as its
*final* sweep (``final``), and only a final sweep of every bucket makes it
``done``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib import rolling
from chalicelib.clock import iso, parse_iso
from chalicelib.limits import ACTIVATION_BUCKETS

__all__ = [
    "CREDIT",
    "EXPIRE",
    "WALLET_KIND",
    "CASH_TRANSFER_KIND",
    "LATE",
    "registration_settled",
    "INDEX_SETTLE_S",
    "DISPATCH_LEASE_S",
    "FORCED_RESEND_S",
    "EXPIRES_AFTER_DAYS_DEFAULT",
    "Tranche",
    "PhasePlan",
    "RunRef",
    "WorkItem",
    "credit_due_at",
    "expiry_due_at",
    "due_credit_runs",
    "due_expiry_runs",
    "expires_at_for",
    "should_dispatch",
    "work_items",
    "issuance_transfer_id",
    "tranche_due_times",
    "late_items",
    "expiry_transfer_id",
]

CREDIT = "credit"
EXPIRE = "expire"
LATE = "late"
WALLET_KIND = "wallet"
CASH_TRANSFER_KIND = "cash_transfer"
# GSI replication lag is well under a second on AWS; ten is a wide margin.
INDEX_SETTLE_S = 10
# A run still not done this long after its messages were sent is sent again
# (only its unfinished buckets): SQS redelivery covers a crashed handler, the
# lease covers a planner that died half-way through sending.
DISPATCH_LEASE_S = 15 * 60
# An operator's activate sends a running run's unfinished buckets again only
# this long after its last send.
FORCED_RESEND_S = 10
EXPIRES_AFTER_DAYS_DEFAULT = 180


@dataclass(frozen=True)
class Tranche:
    amount_satang: int
    after_days: int


@dataclass(frozen=True)
class PhasePlan:
    """The parts of a phase definition that activation and expiry read."""

    phase_id: str
    kind: str
    tranches: tuple[Tranche, ...]
    wave_times: tuple[datetime, ...]
    expires_after_days: int
    registration_closes_at: datetime | None
    # cash_transfer only: the bank every payout of the phase goes through.
    payout_bank_code: str | None = None

    @property
    def is_wallet(self) -> bool:
        return self.kind == WALLET_KIND

    @property
    def wave_count(self) -> int:
        return len(self.wave_times)

    @classmethod
    def from_definition(cls, phase_id: str, definition: Mapping[str, Any]) -> PhasePlan:
        """From a saved definition (the edge validated it); default tranches:
        one of ``amount_satang`` at ``after_days`` 0."""
        raw_tranches = definition.get("tranches") or [
            {"amount_satang": definition["amount_satang"], "after_days": 0}
        ]
        tranches = tuple(Tranche(int(t["amount_satang"]), int(t.get("after_days", 0))) for t in raw_tranches)
        waves = tuple(parse_iso(w["activate_at"]) for w in definition.get("waves") or [])
        closes = definition.get("registration_closes_at")
        return cls(
            phase_id=phase_id,
            kind=str(definition.get("kind", WALLET_KIND)),
            tranches=tranches,
            wave_times=waves,
            expires_after_days=int(definition.get("expires_after_days") or EXPIRES_AFTER_DAYS_DEFAULT),
            registration_closes_at=parse_iso(closes) if closes else None,
            payout_bank_code=definition.get("payout_bank_code") or None,
        )


@dataclass(frozen=True)
class RunRef:
    op: str  # credit | expire
    wave: int  # 1-based
    tranche: int = 0  # 1-based for credit, 0 for expire


@dataclass(frozen=True)
class WorkItem:
    """One SQS message: one bucket of one run. Carries the frozen amounts, so
    that the handler needs no read of the phase."""

    op: str
    phase_id: str
    wave: int
    tranche: int
    bucket: int
    amount_satang: int = 0
    expires_after_days: int = 0
    cursor: str | None = None  # where a continued bucket resumes
    # Look up which credits exist before posting: worth a read only when
    # some may (a run sent again, a message delivered again); otherwise the
    # ledger's own condition is enough.
    recheck: bool = False
    # A credit run's sweep after registration closed and the index settled:
    # only these finish a run.
    final: bool = False
    # What a credit is: a wallet issuance, or (``cash_transfer``) a payout
    # through ``bank_code``, frozen with the amounts.
    kind: str = WALLET_KIND
    bank_code: str | None = None

    def to_body(self) -> dict[str, Any]:
        body = asdict(self)
        if body["cursor"] is None:
            del body["cursor"]
        for flag in ("recheck", "final"):
            if not body[flag]:
                del body[flag]
        # A wallet credit's message is as it was before cash transfers.
        if body["kind"] == WALLET_KIND:
            del body["kind"]
        if body["bank_code"] is None:
            del body["bank_code"]
        return body

    @classmethod
    def from_body(cls, body: str | Mapping[str, Any]) -> WorkItem:
        data = json.loads(body) if isinstance(body, str) else dict(body)
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fields in activation message: {sorted(unknown)}")
        item = cls(**data)
        if item.op not in (CREDIT, EXPIRE, LATE):
            raise ValueError(f"op must be {CREDIT}, {EXPIRE} or {LATE}")
        if item.op == LATE:
            if not 0 <= item.bucket < rolling.SHARDS:
                raise ValueError("a late message's bucket is a shard of the marks' index")
            return item
        if not 0 <= item.bucket < ACTIVATION_BUCKETS or item.wave < 1:
            raise ValueError("wave must be >= 1 and bucket within the activation buckets")
        if item.op == CREDIT and (item.tranche < 1 or item.amount_satang <= 0 or item.expires_after_days <= 0):
            raise ValueError("a credit message needs tranche >= 1, amount_satang > 0, expires_after_days > 0")
        if item.kind not in (WALLET_KIND, CASH_TRANSFER_KIND):
            raise ValueError(f"kind must be {WALLET_KIND} or {CASH_TRANSFER_KIND}")
        if item.op == CREDIT and item.kind == CASH_TRANSFER_KIND and not item.bank_code:
            raise ValueError("a cash_transfer credit message needs the bank_code its payouts go through")
        return item


def registration_settled(plan: PhasePlan, now: datetime) -> bool:
    """Registration has closed and the by-wave index had time to show the
    last registrations: a sweep now is final."""
    if plan.registration_closes_at is None:
        return True
    return now >= plan.registration_closes_at + timedelta(seconds=INDEX_SETTLE_S)


def credit_due_at(plan: PhasePlan, wave: int, tranche: int) -> datetime:
    return plan.wave_times[wave - 1] + timedelta(days=plan.tranches[tranche - 1].after_days)


def expiry_due_at(plan: PhasePlan, wave: int) -> datetime:
    """When a wave's wallets expire: its last tranche plus the expiry days.

    A wallet credited later than its due time (a late run) expires later;
    the sweep leaves it and its bucket is swept again after the lease.
    """
    last = max(t.after_days for t in plan.tranches)
    return plan.wave_times[wave - 1] + timedelta(days=last + plan.expires_after_days)


def due_credit_runs(plan: PhasePlan, now: datetime, wave: int | None = None) -> list[RunRef]:
    """Credit runs due at ``now`` (all waves, or only ``wave``): wallet
    issuances, or a cash_transfer phase's payouts."""
    waves = [wave] if wave is not None else range(1, plan.wave_count + 1)
    return [
        RunRef(CREDIT, w, k)
        for w in waves
        if 1 <= w <= plan.wave_count
        for k in range(1, len(plan.tranches) + 1)
        if credit_due_at(plan, w, k) <= now
    ]


def due_expiry_runs(plan: PhasePlan, now: datetime) -> list[RunRef]:
    if not plan.is_wallet:
        return []
    return [RunRef(EXPIRE, w) for w in range(1, plan.wave_count + 1) if expiry_due_at(plan, w) <= now]


def expires_at_for(credited_at: datetime, expires_after_days: int) -> str:
    """``expires_at`` of a wallet credited at ``credited_at`` (fixed-width RFC 3339)."""
    return iso(credited_at + timedelta(days=expires_after_days))


def should_dispatch(status: str | None, dispatched_at: datetime | None, now: datetime, forced: bool,
                    final_due: bool = False) -> bool:
    """Whether a run's messages are (re)sent now.

    New run: yes. Done: never (safe to ask again). Stopped (budget
    exhausted): when an operator asks, or (``final_due``, which the caller
    sets when the treasury covers a credit again) the budget was raised.
    Running: when an operator asks (at most every ``FORCED_RESEND_S``), when
    its final sweep is due and was not sent (``final_due``), or the lease
    since the last send ran out.
    """
    if status is None:
        return True
    if status == "done":
        return False
    if final_due:
        return True
    if forced:
        # An operator asking again while the last messages are barely out
        # (activate called repeatedly) sends nothing more for a running run.
        return status == "stopped" or dispatched_at is None or now >= dispatched_at + timedelta(
            seconds=FORCED_RESEND_S)
    if status == "stopped" or dispatched_at is None:
        return False
    return now >= dispatched_at + timedelta(seconds=DISPATCH_LEASE_S)


def work_items(plan: PhasePlan, run: RunRef, buckets_done: set[int], recheck: bool = False,
               final: bool = False) -> list[WorkItem]:
    """One message per bucket not yet done."""
    amount = plan.tranches[run.tranche - 1].amount_satang if run.op == CREDIT else 0
    days = plan.expires_after_days if run.op == CREDIT else 0
    bank = plan.payout_bank_code if run.op == CREDIT and not plan.is_wallet else None
    return [
        WorkItem(run.op, plan.phase_id, run.wave, run.tranche, bucket, amount, days, recheck=recheck, final=final,
                 kind=plan.kind if run.op == CREDIT else WALLET_KIND, bank_code=bank)
        for bucket in range(ACTIVATION_BUCKETS)
        if bucket not in buckets_done
    ]


def tranche_due_times(plan: PhasePlan, wave: int) -> list[datetime]:
    """When each tranche of a citizen of ``wave`` is due."""
    return [credit_due_at(plan, wave, k) for k in range(1, len(plan.tranches) + 1)]


def late_items(plan: PhasePlan) -> list[WorkItem]:
    """One message per shard of the marks' index."""
    return [WorkItem(LATE, plan.phase_id, 1, 0, shard) for shard in range(rolling.SHARDS)]


def issuance_transfer_id(phase_id: str, tranche: int, wallet_id: str) -> str:
    """One credit per citizen and tranche, whatever runs twice."""
    return f"iss:{phase_id}:{tranche}:{wallet_id}"


def expiry_transfer_id(wallet_id: str) -> str:
    """One return of the whole remaining balance per wallet."""
    return f"exp:{wallet_id}"
