"""The function settings' benchmark (bench/functions.py): how a local
measurement maps to Lambda, and when a declared setting does not cover it."""
from __future__ import annotations

import dataclasses

import pytest

from bench.functions import (
    MEMORY_HEADROOM,
    TIMEOUT_HEADROOM,
    VCPU_MB,
    Measured,
    capacity_verdicts,
    lambda_seconds,
    percentile,
    setting_verdicts,
)
from chalicelib import functions

pytestmark = pytest.mark.unit


def test_cpu_time_stretches_below_one_vcpu_and_waiting_does_not():
    # 1 s of which 0.2 s CPU: at one vCPU as measured, at half a vCPU the CPU doubles.
    assert lambda_seconds(1.0, 0.2, VCPU_MB) == pytest.approx(1.0)
    assert lambda_seconds(1.0, 0.2, 3008) == pytest.approx(1.0)  # above one vCPU: one core used, no faster
    assert lambda_seconds(1.0, 0.2, VCPU_MB // 2) == pytest.approx(0.8 + 0.2 * VCPU_MB / (VCPU_MB // 2))
    # Threads that used more CPU than the wall clock: none of it counted as waiting.
    assert lambda_seconds(1.0, 1.5, VCPU_MB) == pytest.approx(1.5)


def test_a_setting_below_the_measurement_times_its_headroom_fails():
    measured = Measured(peak_mib=100.0, worst_batch_s=20.0)
    assert setting_verdicts(int(100 * MEMORY_HEADROOM), int(20 * TIMEOUT_HEADROOM), measured) == {
        "memory_covers_peak": True, "timeout_covers_worst_batch": True}
    assert setting_verdicts(128, 60, measured)["memory_covers_peak"] is False  # 128 < 150
    assert setting_verdicts(512, 39, measured)["timeout_covers_worst_batch"] is False  # 39 < 40


def test_a_budgeted_handler_must_keep_room_for_its_worst_step():
    fits = Measured(peak_mib=80.0, worst_batch_s=20.0, worst_step_s=3.0, step_margin_s=8.0)
    assert setting_verdicts(512, 300, fits)["margin_covers_worst_step"] is True
    too_slow = dataclasses.replace(fits, worst_step_s=4.5)  # 9 s with the headroom, past the 8 s kept
    assert setting_verdicts(512, 300, too_slow)["margin_covers_worst_step"] is False
    assert "margin_covers_worst_step" not in setting_verdicts(512, 300, Measured(80.0, 20.0))


def _spec(name: str, **settings: object) -> functions.FunctionSpec:
    return functions.FunctionSpec(name=name, memory_mb=512, timeout_s=60, why="test", **settings)  # type: ignore[arg-type]


def test_the_concurrency_settings_follow_the_capacity_model():
    specs = {
        "api_handler": _spec("api_handler"),
        "activation_worker": _spec("activation_worker", consumes="activation", batch_size=10, max_concurrency=20,
                                   reserved_concurrency=20),
        "bank_status_worker": _spec("bank_status_worker", consumes="bank-status", max_concurrency=5,
                                    reserved_concurrency=5),
        "payout_schedule": _spec("payout_schedule", reserved_concurrency=1),
    }
    verdicts = capacity_verdicts(specs, warm_accounts_wcu=25_000)
    assert all(verdicts.values()), verdicts
    # 40 issuance workers: 400 transactions/s x 100 write units on `accounts` = 40,000 > 25,000 warmed.
    wider = {**specs, "activation_worker": dataclasses.replace(specs["activation_worker"], max_concurrency=40,
                                                               reserved_concurrency=40)}
    assert capacity_verdicts(wider, 25_000)["activation_within_warm_accounts"] is False
    # A consumer allowed more pollers than its reserved concurrency is throttled.
    starved = {**specs, "bank_status_worker": dataclasses.replace(specs["bank_status_worker"], reserved_concurrency=2)}
    assert capacity_verdicts(starved, 25_000)["bank_status_worker_max_concurrency_within_reserved"] is False
    # A schedule with nothing reserved, and reserved pools that leave the API less than its peak.
    assert capacity_verdicts({**specs, "payout_schedule": _spec("payout_schedule")}, 25_000)[
        "payout_schedule_reserved"] is False
    greedy = {**specs, "activation_worker": dataclasses.replace(specs["activation_worker"], reserved_concurrency=600)}
    assert capacity_verdicts(greedy, 25_000)["reserved_leave_the_api_its_peak"] is False


def test_the_percentile_is_a_measured_value():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0 and percentile(values, 0.5) == 50.0
    assert percentile([3.0], 0.99) == 3.0 and percentile([], 0.99) == 0.0
