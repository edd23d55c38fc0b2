"""The phases table: one item per phase, its definition as saved and its
funding state; and the sharded progress counters of each phase. Later issues add attributes (progress, wave status); the
definition is one JSON attribute so new definition fields need no migration."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["PhaseCounterModel", "PhaseModel"]


@register
class PhaseModel(Model):
    class Meta:
        short_name = "phases"

    phase_id = UnicodeAttribute(hash_key=True)
    # The PUT body as saved (canonical JSON).
    definition_json = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # Funding: the budget the treasury should hold in total (target), what
    # has been posted for it (funded), and the step counter that names the
    # funding transfers (a retried step posts nothing new).
    funding_target_satang = NumberAttribute(default=0)
    funded_satang = NumberAttribute(default=0)
    funding_step = NumberAttribute(default=0)
    funded_step = NumberAttribute(default=0)
    funding_delta_satang = NumberAttribute(default=0)
    # Maintained by activation: what the phase has credited to wallets.
    issued_satang = NumberAttribute(default=0)
    # Set by activation when a wave starts; freezes the money-shaping fields.
    started_at = UnicodeAttribute(null=True)
    stopped_reason = UnicodeAttribute(null=True)
    # Concurrent PUTs: each save is conditional on the version it read.
    version = VersionAttribute()


@register
class PhaseCounterModel(Model):
    """One shard of a phase's progress counters.

    Counters are plain number attributes changed only with ADD on a random
    shard, so that registration day (tens of thousands a second) and
    activation never queue on one item; a read sums the few shards. Names
    are dynamic (per-wave counters), so they are written through paths, not
    declared attributes.
    """

    class Meta:
        short_name = "phase-counters"

    phase_id = UnicodeAttribute(hash_key=True)
    shard = NumberAttribute(range_key=True)
