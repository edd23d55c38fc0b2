"""Items of activation: the state of each run (the counters are the phase's, chalicelib.phases.counters).

A run is the crediting of one (wave, tranche) or the expiry sweep of one
wave of a phase; its work is split over the ACTIVATION_BUCKETS buckets of the
by-wave index, and the run is done when every bucket is.
"""
from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, NumberSetAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["RunModel", "run_key"]


def run_key(op: str, wave: int, tranche: int = 0) -> str:
    """Sort key of a run: ``credit#001#01`` (wave 1, tranche 1), ``expire#001#00``."""
    return f"{op}#{wave:03d}#{tranche:02d}"


@register
class RunModel(Model):
    class Meta:
        short_name = "activation-runs"

    phase_id = UnicodeAttribute(hash_key=True)
    run_key = UnicodeAttribute(range_key=True)
    op = UnicodeAttribute()  # credit | expire
    wave = NumberAttribute()
    tranche = NumberAttribute(default=0)  # 1-based for credit runs
    status = UnicodeAttribute()  # running | done | stopped
    started_at = UnicodeAttribute()
    # Last time the run's messages were sent: a run not done a lease after
    # that is sent again (its buckets not yet done), e.g. after a crash.
    dispatched_at = UnicodeAttribute()
    # Buckets finished; ADD of a set member is idempotent, so a message
    # delivered twice cannot finish a bucket twice.
    buckets_done = NumberSetAttribute(null=True)
    # The sweep sent after registration closed (and the index settled), and
    # the buckets it finished: only a final sweep of every bucket is done.
    final = BooleanAttribute(null=True)
    final_buckets_done = NumberSetAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    stopped_reason = UnicodeAttribute(null=True)
