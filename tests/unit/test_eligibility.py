"""Eligibility, wave assignment and opaque ids: pure rules, no I/O."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.eligibility import (
    Citizen,
    PhaseRules,
    assign_bucket,
    assign_wave,
    decide,
    registration_id_for,
    registration_open,
    wallet_id_for,
)

PHASE3 = PhaseRules.from_definition("p3", {
    "kind": "wallet",
    "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16",
    "exclusion_lists": ["welfare_card", "prisoners"],
    "registration_opens_at": "2025-03-01T00:00:00Z",
    "registration_closes_at": "2025-03-31T00:00:00Z",
    "waves": [{"activate_at": "2025-04-01T02:00:00Z"}, {"activate_at": "2025-04-02T02:00:00Z"}],
})


def citizen(born: str = "2006-01-01", nationality: str = "TH", h: str = "c" * 64) -> Citizen:
    return Citizen(citizen_hash=h, birth_date=date.fromisoformat(born), nationality=nationality, district="1001")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize("born", ["2004-09-16", "2006-06-30", "2008-09-16"])
def test_a_thai_citizen_born_inside_the_window_is_accepted_both_ends_included(born):
    decision = decide(PHASE3, citizen(born))
    assert decision.accepted and decision.reason is None


@pytest.mark.parametrize("born", ["2004-09-15", "2008-09-17", "1990-01-01"])
def test_one_day_outside_the_window_is_outside_cohort(born):
    decision = decide(PHASE3, citizen(born))
    assert (decision.status, decision.reason) == ("rejected", "outside_cohort")


def test_a_foreign_national_is_rejected_not_thai_before_any_other_reason():
    decision = decide(PHASE3, citizen("1990-01-01", "LA"), excluded_on=["prisoners"])
    assert decision.reason == "not_thai"


def test_an_excluded_citizen_is_rejected_with_the_list_named_in_the_phase_order():
    decision = decide(PHASE3, citizen(), excluded_on=["prisoners", "welfare_card"])
    assert decision.reason == "excluded:welfare_card"
    assert decision.matched_lists == ("welfare_card", "prisoners")


def test_a_list_the_phase_does_not_name_does_not_exclude():
    assert decide(PHASE3, citizen(), excluded_on=["income_cap"]).accepted


def test_a_benefit_from_another_phase_rejects_already_benefited():
    assert decide(PHASE3, citizen(), benefit_phase_id="p2").reason == "already_benefited"


def test_a_benefit_of_this_same_phase_is_the_citizens_own_and_does_not_reject():
    assert decide(PHASE3, citizen(), benefit_phase_id="p3").accepted


def test_exclusion_comes_before_already_benefited():
    assert decide(PHASE3, citizen(), ["prisoners"], "p2").reason == "excluded:prisoners"


def test_the_window_opens_inclusive_and_closes_exclusive():
    assert not registration_open(PHASE3, at("2025-02-28T23:59:59Z"))
    assert registration_open(PHASE3, at("2025-03-01T00:00:00Z"))
    assert registration_open(PHASE3, at("2025-03-30T23:59:59Z"))
    assert not registration_open(PHASE3, at("2025-03-31T00:00:00Z"))


def test_activates_at_is_the_waves_time_and_a_phase_without_waves_has_one():
    assert PHASE3.wave_count == 2
    assert PHASE3.activates_at(2) == "2025-04-02T02:00:00Z"
    assert PHASE3.activates_at(3) is None
    no_waves = PhaseRules.from_definition("p9", {**{"birth_date_from": "2000-01-01", "birth_date_to": "2001-01-01",
                                                   "registration_opens_at": "2025-03-01T00:00:00Z",
                                                   "registration_closes_at": "2025-03-31T00:00:00Z"}})
    assert no_waves.wave_count == 1 and no_waves.exclusion_lists == ()


@given(st.text(min_size=1, max_size=20), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
       st.integers(min_value=1, max_value=50))
def test_wave_is_stable_and_in_range(phase_id, citizen_hash, waves):
    wave = assign_wave(phase_id, citizen_hash, waves)
    assert 1 <= wave <= waves
    assert assign_wave(phase_id, citizen_hash, waves) == wave
    assert 0 <= assign_bucket(phase_id, citizen_hash, 64) < 64


def test_waves_and_buckets_spread_evenly():
    hashes = [f"{i:064x}" for i in range(20_000)]
    waves = Counter(assign_wave("p3", h, 4) for h in hashes)
    assert set(waves) == {1, 2, 3, 4}
    assert all(4_500 < n < 5_500 for n in waves.values())  # 5,000 each, +-10%
    buckets = Counter(assign_bucket("p3", h, 64) for h in hashes)
    assert len(buckets) == 64 and max(buckets.values()) < 2 * min(buckets.values())


def test_wave_does_not_depend_on_bucket():
    # Buckets are drawn independently of waves: every wave uses every bucket.
    hashes = [f"{i:064x}" for i in range(5_000)]
    pairs = {(assign_wave("p3", h, 2), assign_bucket("p3", h, 8)) for h in hashes}
    assert len(pairs) == 16


def test_zero_waves_is_refused():
    with pytest.raises(ValueError):
        assign_wave("p3", "c" * 64, 0)


def test_wallet_and_registration_ids_are_opaque_stable_and_per_phase():
    w = wallet_id_for("p3", "c" * 64)
    assert w == wallet_id_for("p3", "c" * 64)
    assert w.startswith("w_") and len(w) == 26 and "c" * 8 not in w
    assert w != wallet_id_for("p4", "c" * 64)
    assert registration_id_for("p3", "c" * 64).startswith("r_")
    assert registration_id_for("p3", "c" * 64)[2:] != w[2:]
