"""Rolling crediting, the pure rules: who is credited one by one after
their wave's (tranche's) time, and until when. No I/O here.

A wave's run sweeps the by-wave index of everyone accepted so far, in
batches. The index is eventually consistent, and registration goes on for
weeks after a wave starts, so a citizen accepted less than ``MARGIN_S``
before a due time, or after it, may be missed by that sweep. Such a citizen
is *marked* when accepted: the registration item carries ``due_key`` (a
sparse index, ``SHARDS`` keys per phase), and every schedule run credits the
marked citizens of each shard with what is due for them (O(1) requests each:
a share of an index page, of a batched ledger transaction, and one write
that clears the mark). The ledger's transfer ids make each credit happen
once, whoever does it first: the mark, a wave's run, or its final sweep
after registration closed.

What a credit is (a wallet issuance, later a cash-transfer payout) is the
caller's: these rules only say which of a subject's tranches are due and
when a mark may go.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

__all__ = [
    "MARGIN_S",
    "SHARDS",
    "TAIL_AFTER_CLOSE",
    "due_key",
    "needs_mark",
    "covered_tranches",
    "due_tranches",
    "mark_served",
    "sweeping",
]

# Longer than the by-wave index takes to show a write (well under a second
# on AWS) and than a registration takes from its clock reading to its
# commit (a request gives up within 19 s): a run's sweep, which reads at
# or after its due time, sees everyone accepted MARGIN_S before it.
MARGIN_S = 60
# Index keys of the marks of one phase: a schedule run reads each once.
SHARDS = 8
# Marks are still looked at this long after registration closed; by then
# every run's final sweep (sent once the index settled after the close)
# credits whoever a mark still names, e.g. one left by a crash.
TAIL_AFTER_CLOSE = timedelta(seconds=MARGIN_S)


def due_key(phase_id: str, shard: int) -> str:
    """Partition key of the marks' index."""
    return f"{phase_id}#late#{shard:02d}"


def covered_tranches(due_times: Sequence[datetime], accepted_at: datetime) -> list[int]:
    """1-based tranches that a run's sweep may miss for a subject accepted
    at ``accepted_at``: those due before ``accepted_at + MARGIN_S``."""
    limit = accepted_at + timedelta(seconds=MARGIN_S)
    return [k for k, due in enumerate(due_times, start=1) if due <= limit]


def needs_mark(due_times: Sequence[datetime], accepted_at: datetime) -> bool:
    """Whether a subject accepted now must be marked (``due_times``: when
    each of its tranches is due, i.e. its wave's time plus ``after_days``)."""
    return bool(covered_tranches(due_times, accepted_at))


def due_tranches(due_times: Sequence[datetime], accepted_at: datetime, now: datetime) -> list[int]:
    """Of the covered tranches, those due at ``now``: credit them now."""
    return [k for k in covered_tranches(due_times, accepted_at) if due_times[k - 1] <= now]


def mark_served(due_times: Sequence[datetime], accepted_at: datetime, now: datetime,
                credited: set[int]) -> bool:
    """The mark may go: every covered tranche is due and credited, and the
    margin is over (no tranche can become covered any more)."""
    if now < accepted_at + timedelta(seconds=MARGIN_S):
        return False
    return set(covered_tranches(due_times, accepted_at)) <= credited


def sweeping(registration_closes_at: datetime | None, now: datetime) -> bool:
    """Whether a phase's marks are swept at ``now``."""
    return registration_closes_at is None or now < registration_closes_at + TAIL_AFTER_CLOSE
