"""The phase definitions registration reads, cached for a few seconds.

Registration day reads the same definition tens of thousands of times a
second; ARCHITECTURE.md allows rarely-changing data such as a phase
definition to be cached briefly. A change (e.g. closing registration) takes
effect everywhere within ``PHASE_CACHE_TTL_S``.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.config import get_settings
from chalicelib.eligibility import PhaseRules

__all__ = ["PHASE_CACHE_TTL_S", "phase_rules", "forget_cached_phases"]

PHASE_CACHE_TTL_S = 5.0
# Phases are few (one a year or so); a bound all the same.
PHASE_CACHE_ENTRIES_MAX = 256

_cache: dict[str, tuple[float, PhaseRules]] = {}
_lock = threading.Lock()


def _saved_definition(phase_id: str) -> Mapping[str, Any] | None:
    # Imported late: the phases package is the edge's, and registration's
    # pure parts do not need it.
    from chalicelib.phases import get_definition

    return get_definition(phase_id)


def phase_rules(phase_id: str, clock: Callable[[], float] = time.monotonic) -> PhaseRules | None:
    now = clock()
    settings = get_settings()
    # One process may serve several stages (tests, the local stack).
    key = f"{settings.resource_prefix}|{settings.dynamodb_endpoint}|{phase_id}"
    found = _cache.get(key)
    if found is not None and found[0] > now:
        return found[1]
    definition = _saved_definition(phase_id)
    if definition is None:
        # Not cached: a phase saved a moment ago must be found at once.
        return None
    rules = PhaseRules.from_definition(phase_id, definition)
    with _lock:
        if len(_cache) >= PHASE_CACHE_ENTRIES_MAX:
            _cache.clear()
        _cache[key] = (now + PHASE_CACHE_TTL_S, rules)
    return rules


def forget_cached_phases() -> None:
    with _lock:
        _cache.clear()
