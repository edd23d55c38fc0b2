"""Rolling crediting's rules (chalicelib/rolling.py): who is marked when
accepted, which tranches a mark gets and when the mark may go."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib import rolling
from chalicelib.eligibility import PhaseRules

WAVE = datetime(2025, 4, 1, 2, tzinfo=UTC)
TWO = [WAVE, WAVE + timedelta(days=30)]  # tranche 1 at the wave, tranche 2 thirty days later
MARGIN = timedelta(seconds=rolling.MARGIN_S)


def test_a_citizen_accepted_well_before_the_wave_is_left_to_the_waves_sweep():
    assert not rolling.needs_mark(TWO, WAVE - MARGIN - timedelta(seconds=1))


def test_a_citizen_accepted_within_the_margin_before_or_after_the_wave_is_marked():
    assert rolling.needs_mark(TWO, WAVE - MARGIN)
    assert rolling.covered_tranches(TWO, WAVE - timedelta(seconds=5)) == [1]
    assert rolling.covered_tranches(TWO, WAVE + timedelta(days=3)) == [1]
    assert rolling.covered_tranches(TWO, WAVE + timedelta(days=31)) == [1, 2]


def test_a_mark_gets_what_is_due_now_and_goes_once_every_covered_tranche_is_credited():
    accepted = WAVE - timedelta(seconds=5)
    assert rolling.due_tranches(TWO, accepted, WAVE - timedelta(seconds=1)) == []
    assert rolling.due_tranches(TWO, accepted, WAVE) == [1]
    # Not before the margin is over (a tranche could still become covered) ...
    assert not rolling.mark_served(TWO, accepted, WAVE, {1})
    # ... nor while a covered tranche is not credited (budget exhausted).
    assert not rolling.mark_served(TWO, accepted, WAVE + MARGIN, set())
    assert rolling.mark_served(TWO, accepted, WAVE + MARGIN, {1})


def test_a_second_tranche_far_ahead_is_left_to_its_own_run():
    accepted = WAVE + timedelta(days=2)
    assert rolling.due_tranches(TWO, accepted, WAVE + timedelta(days=40)) == [1]
    assert rolling.mark_served(TWO, accepted, accepted + MARGIN, {1})


def test_marks_are_swept_until_the_margin_after_registration_closed():
    closes = WAVE + timedelta(days=10)
    assert rolling.sweeping(closes, closes + timedelta(seconds=rolling.MARGIN_S - 1))
    assert not rolling.sweeping(closes, closes + rolling.TAIL_AFTER_CLOSE)


def test_registration_knows_each_tranches_due_time_of_a_wave():
    rules = PhaseRules.from_definition("p3", {
        "kind": "wallet", "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16",
        "registration_opens_at": "2025-03-01T00:00:00Z", "registration_closes_at": "2025-05-31T00:00:00Z",
        "waves": [{"activate_at": "2025-04-01T02:00:00Z"}],
        "tranches": [{"amount_satang": 500_000, "after_days": 0}, {"amount_satang": 500_000, "after_days": 30}]})
    assert rules.due_times(1) == TWO
    assert rules.due_times(2) == []
