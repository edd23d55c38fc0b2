"""The phase definitions registration reads, cached for a few seconds.

Registration day reads the same definition tens of thousands of times a
second; ARCHITECTURE.md allows rarely-changing data such as a phase
definition to be cached briefly. A change (e.g. closing registration) takes
effect everywhere within ``PHASE_CACHE_TTL_S``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.cache import TtlCache
from chalicelib.config import runtime
from chalicelib.eligibility import PhaseRules
from chalicelib.phases import service as phases

__all__ = ["PHASE_CACHE_TTL_S", "phase_rules"]

PHASE_CACHE_TTL_S = 5.0
# Phases are few (one a year or so); a bound all the same.
PHASE_CACHE_ENTRIES_MAX = 256

def _cache() -> TtlCache[PhaseRules]:
    return runtime().cache("phase-rules", PHASE_CACHE_TTL_S, PHASE_CACHE_ENTRIES_MAX)


def _saved_definition(phase_id: str) -> Mapping[str, Any] | None:
    return phases.get_definition(phase_id)


def phase_rules(phase_id: str) -> PhaseRules | None:
    """The phase's registration rules; a phase not saved yet is not cached,
    so that a phase saved a moment ago is found at once."""
    def load() -> PhaseRules | None:
        definition = _saved_definition(phase_id)
        return None if definition is None else PhaseRules.from_definition(phase_id, definition)

    return _cache().get_or_load(phase_id, load)
