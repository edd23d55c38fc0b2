"""Withdrawals racing on DynamoDB Local: the hold's conditional debit keeps
``withdrawable`` from ever going below zero, a key replayed while its first
request runs holds once, and settling and voiding racing resolve once."""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from chalicelib.errors import WalletError
from chalicelib.ledger import Ledger, PendingStateError, Transfer, accounts, audit_ledger
from chalicelib.payouts import steps
from chalicelib.payouts.withdrawals import withdraw
from tests.concurrency.test_payments_http import make_shop
from tests.invariants import drained_summary


def _outcome(call) -> str:
    try:
        return "replayed" if call().replayed else "held"
    except WalletError as exc:
        return f"{exc.code}:{exc.details.get('reason')}"


@pytest.mark.timeout(300)
def test_fifty_racing_withdrawals_from_one_shop_never_overdraw(ddb_local):
    shop = make_shop(31)
    ledger = Ledger()
    ledger.post(Transfer("fund", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable(shop), 100_000,
                         "test_funding"))

    def one(i: int) -> str:
        return _outcome(lambda: withdraw(shop, f"wd_{i:016x}", f"f{i}", 3_000))

    with ThreadPoolExecutor(25) as pool:
        counts = Counter(pool.map(one, range(50)))
    assert counts == {"held": 33, "withdrawal_not_allowed:exceeds_withdrawable": 17}, counts
    assert ledger.balance(accounts.merchant_withdrawable(shop)) == 1_000
    assert drained_summary()["in_flight_satang"] == 99_000
    report = audit_ledger()
    assert report.ok and drained_summary()["balanced"], report


@pytest.mark.timeout(300)
def test_one_key_replayed_by_racing_requests_holds_once(ddb_local):
    shop = make_shop(32)
    ledger = Ledger()
    ledger.post(Transfer("fund", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable(shop), 100_000,
                         "test_funding"))
    with ThreadPoolExecutor(10) as pool:
        counts = Counter(pool.map(lambda _: _outcome(lambda: withdraw(shop, "wd_00000000000000aa", "f", 40_000)),
                                  range(10)))
    assert counts == {"held": 1, "replayed": 9}, counts
    assert ledger.balance(accounts.merchant_withdrawable(shop)) == 60_000

    # A settle and a reject of the same payout racing: exactly one resolves.
    item = steps.get_payout("wd_00000000000000aa")
    now = datetime.now(UTC)

    def resolve(i: int) -> str:
        try:
            if i % 2:
                return "settled" if steps.settle(ledger, item, None, now).created else "again"
            return "rejected" if steps.reject(ledger, item, "AC04", now).created else "again"
        except PendingStateError:
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        outcomes = Counter(pool.map(resolve, range(8)))
    assert outcomes["settled"] + outcomes["rejected"] == 1, outcomes
    final = steps.get_payout("wd_00000000000000aa").status
    expected_withdrawable = 60_000 if final == "settled" else 100_000
    assert ledger.balance(accounts.merchant_withdrawable(shop)) == expected_withdrawable
    assert drained_summary()["in_flight_satang"] == 0
    report = audit_ledger()
    assert report.ok and drained_summary()["balanced"], report
