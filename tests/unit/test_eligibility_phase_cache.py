"""The few-seconds cache of phase definitions that registration reads."""
from __future__ import annotations

import pytest

from chalicelib import cache
from chalicelib.config import rebuild
from chalicelib.registration import phases

NOW = [0.0]

DEFINITION = {"kind": "wallet", "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16",
              "registration_opens_at": "2025-03-01T00:00:00Z", "registration_closes_at": "2025-03-31T00:00:00Z"}


@pytest.fixture
def saved(monkeypatch):
    store: dict[str, dict] = {}
    reads: list[str] = []

    def read(phase_id):
        reads.append(phase_id)
        return store.get(phase_id)

    monkeypatch.setattr(phases, "_saved_definition", read)
    monkeypatch.setattr(cache.time, "monotonic", lambda: NOW[0])
    rebuild()
    yield store, reads
    rebuild()


def test_a_definition_is_read_once_per_ttl_and_again_after(saved):
    store, reads = saved
    store["p3"] = DEFINITION
    NOW[0] = 100.0
    assert phases.phase_rules("p3").phase_id == "p3"
    NOW[0] = 100.0 + phases.PHASE_CACHE_TTL_S - 0.1
    phases.phase_rules("p3")
    assert reads == ["p3"]
    store["p3"] = {**DEFINITION, "registration_closes_at": "2025-03-02T00:00:00Z"}
    NOW[0] = 100.0 + phases.PHASE_CACHE_TTL_S
    later = phases.phase_rules("p3")
    assert later.closes_at.day == 2 and reads == ["p3", "p3"]


def test_a_missing_phase_is_not_cached_so_a_new_one_is_found_at_once(saved):
    store, _ = saved
    assert phases.phase_rules("p4") is None
    store["p4"] = DEFINITION
    assert phases.phase_rules("p4") is not None
