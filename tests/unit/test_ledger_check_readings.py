"""The scheduled ledger check tells a break from a payment counted in part."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.ledger import accounts, check


def _reading(funded: int, held: int, partial: dict[str, int] | None = None) -> dict[str, Any]:
    buckets = dict.fromkeys(accounts.SUMMARY_BUCKETS, 0)
    buckets["wallets_satang"] = held
    return {"funded_satang": funded, **buckets, "balanced": funded == held, "negative_accounts": 0,
            "partial_transactions": len(partial or {}), "partial": partial or {}}


@pytest.fixture
def readings(monkeypatch: pytest.MonkeyPatch) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    queue: list[dict[str, Any]] = []
    raised: list[dict[str, Any]] = []
    monkeypatch.setattr(check.stream_summary, "consume", lambda *args: None)
    monkeypatch.setattr(check, "summary", lambda: queue.pop(0))
    monkeypatch.setattr(check.alerts, "raise_alert", lambda kind, key, details: raised.append(details))
    monkeypatch.setattr(check.observability, "count", lambda *args, **kwargs: None)
    monkeypatch.setattr(check.time, "sleep", lambda seconds: None)
    return queue, raised


def test_an_imbalance_that_moves_with_the_traffic_raises_no_alert(readings):
    queue, raised = readings
    queue += [_reading(1000, 900), _reading(1000, 1150), _reading(1000, 1000)]
    assert check.check_ledger()["balanced"] is True
    assert raised == [] and queue == []


def test_an_imbalance_that_stands_still_is_an_alert_with_its_amount(readings):
    queue, raised = readings
    queue += [_reading(1000, 1500), _reading(1000, 1500), _reading(1000, 1500)]
    assert check.check_ledger() == {"balanced": False, "imbalance_satang": 500, "negative_accounts": 0}
    assert raised == [{"imbalance_satang": 500, "negative_accounts": 0, "partial_transactions": 0}]
    assert len(queue) == 1  # two readings agreed: no third needed


def test_a_busy_hour_with_a_break_underneath_is_reported_by_the_metric_not_as_an_alert(readings):
    queue, raised = readings
    queue += [_reading(1000, 1500), _reading(1000, 1620), _reading(1000, 1480)]
    assert check.check_ledger()["imbalance_satang"] == 480  # the metric (and its alarm) still sees it
    assert raised == []


def test_payments_read_in_part_under_traffic_raise_nothing(readings):
    queue, raised = readings
    queue += [_reading(1000, 1000, {"t1": -500}), _reading(1000, 1000, {"t2": 300}), _reading(1000, 1000)]
    assert check.check_ledger() == {"balanced": True, "imbalance_satang": 0, "negative_accounts": 0}
    assert raised == []


def test_a_transaction_that_stays_in_part_is_an_alert(readings):
    # money written outside the ledger under a transaction's name: its other half never comes
    queue, raised = readings
    queue += [_reading(1000, 1000, {"forged": 500, "t1": -20}), _reading(1000, 1000, {"forged": 500, "t2": 40})]
    assert check.check_ledger() == {"balanced": False, "imbalance_satang": 500, "negative_accounts": 0}
    assert raised == [{"imbalance_satang": 500, "negative_accounts": 0, "partial_transactions": 1}]
