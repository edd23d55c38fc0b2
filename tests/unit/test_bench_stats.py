"""The benchmarks' ratio: the median of paired rounds, next to the ratio of totals."""
from __future__ import annotations

import pytest

from bench.stats import Rounds, in_turn


def test_one_stalled_round_moves_the_ratio_of_totals_but_not_the_median():
    rounds = Rounds()
    for _ in range(7):
        rounds.add(100, 1.0, 100, 0.9)  # the app at 0.9 of raw in every calm round
    rounds.add(100, 3.0, 100, 0.9)      # a stall hits the app's side of one round
    assert rounds.median_ratio() == pytest.approx(0.9)
    assert rounds.ratio_of_totals() == pytest.approx((800 / 10.0) / (800 / 7.2))
    summary = rounds.summary()
    assert summary["rounds"] == 8
    assert summary["median_of_round_ratios"] == 0.9
    assert summary["round_ratio_min"] == 0.3 and summary["round_ratio_max"] == 0.9


def test_rounds_of_different_sizes_compare_rates_not_counts():
    rounds = Rounds()
    rounds.add(50, 0.5, 200, 2.5)   # app 100/s, raw 80/s
    rounds.add(120, 1.0, 100, 1.0)  # app 120/s, raw 100/s
    assert rounds.ratios() == pytest.approx([1.25, 1.2])
    assert rounds.median_ratio() == pytest.approx(1.225)
    # What a benchmark reports as each path's rate: its totals over the rounds.
    assert rounds.app_totals() == (pytest.approx(1.5), 170)
    assert rounds.raw_totals() == (pytest.approx(3.5), 300)


def test_no_rounds_or_a_raw_round_that_did_nothing_gives_no_ratio():
    assert Rounds().median_ratio() == 0.0
    assert Rounds().ratio_of_totals() == 0.0
    rounds = Rounds()
    rounds.add(10, 1.0, 0, 0.0)
    assert rounds.ratios() == [] and rounds.summary()["rounds"] == 0


def test_the_raw_path_goes_first_in_odd_rounds_only():
    order: list[str] = []
    for round_no in range(4):
        app, raw = in_turn(round_no, lambda: order.append("app") or "a", lambda: order.append("raw") or "r")
        assert (app, raw) == ("a", "r")
    assert order == ["app", "raw", "raw", "app", "app", "raw", "raw", "app"]


def test_the_cpu_ratio_reads_as_a_throughput_ratio() -> None:
    from bench.cpu import CpuMeter

    meter = CpuMeter(None)
    meter.totals = {"app": {"python": 2.0, "dynamodb_local": 2.0}, "raw": {"python": 1.0, "dynamodb_local": 2.0}}
    # The emulator's JIT compiler happened to run during the raw path: shown, not counted.
    meter.jit = {"raw": 0.5}
    # 100 operations each: the app costs 40 ms of CPU each, the raw calls 30 ms.
    assert meter.ratio("app", 100, "raw", 100) == pytest.approx(0.75)
    assert meter.per_op_ms("app", 100) == {"python": 20.0, "dynamodb_local": 20.0, "total": 40.0,
                                           "dynamodb_local_jit_not_counted": 0.0}
    assert meter.per_op_ms("raw", 100)["total"] == 30.0
    assert meter.per_op_ms("raw", 100)["dynamodb_local_jit_not_counted"] == 5.0
    assert meter.ratio("app", 100, "missing", 100) == 0.0


def test_the_overview_lists_every_ratio_of_every_benchmark() -> None:
    from bench.__main__ import _ratios

    figures = {"posts": {"ratio": 0.97, "cpu_ratio": 0.9, "ratio_rounds": {"median_of_round_ratios": 0.97,
                                                                           "rounds": 16}},
               "ratio_to_raw": 1.01, "targets": {"met": True, "ratio_min": 0.8}}
    assert dict(_ratios("", figures)) == {"posts.ratio": 0.97, "posts.cpu_ratio": 0.9,
                                          "posts.ratio_rounds.median_of_round_ratios": 0.97, "ratio_to_raw": 1.01}
