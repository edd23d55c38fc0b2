"""A wholesaler in 8 shards on DynamoDB Local: 200 round 2 payments from 50
shops racing into it (each sent twice), then withdrawals racing to draw
across its shards. No shop pays more than it holds, no shard goes below
zero, every replay moves nothing, and the ledger audit balances."""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.errors import WalletError
from chalicelib.ledger import Ledger, Transfer, accounts, audit_ledger
from chalicelib.merchants.models import MerchantModel
from chalicelib.merchants.service import balances_of, get_merchant, profile_body
from chalicelib.merchants.shards import shard_accounts
from chalicelib.payments.rules import SpendingPolicy
from chalicelib.payments.service import PaymentService
from chalicelib.payouts.withdrawals import withdraw
from tests.concurrency.test_payments_http import make_shop, qr
from tests.invariants import drained_summary

SHARDS = 8
SHOPS = 50
PER_SHOP = 4
AMOUNT = 1_000


def _outcome(call) -> str:
    try:
        return "replayed" if call().replayed else "done"
    except WalletError as exc:
        return exc.code


@pytest.mark.timeout(600)
def test_shops_pay_a_sharded_wholesaler_and_it_withdraws_across_shards(ddb_local):
    wholesaler = make_shop(500)
    MerchantModel(wholesaler).update(actions=[MerchantModel.balance_shards.set(SHARDS)])
    shops = [make_shop(600 + n) for n in range(SHOPS)]
    ledger = Ledger()
    for shop in shops:
        # 3,500 satang over both balances: 3 of its 4 payments of 1,000 fit.
        ledger.post(Transfer(f"s-{shop}", accounts.BUDGET_ACCOUNT, accounts.merchant_spendable(shop), 2_000,
                             "test_funding"))
        ledger.post(Transfer(f"w-{shop}", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable(shop), 1_500,
                             "test_funding"))
    service = PaymentService(policy_of=lambda _p: SpendingPolicy())
    jobs = [(shop, f"p-{n}-{k}", qr(wholesaler, AMOUNT)) for n, shop in enumerate(shops) for k in range(PER_SHOP)]

    def pay(job: tuple[str, str, str]) -> str:
        shop, key, code = job
        return _outcome(lambda: service.pay_merchant(payer_id=shop, transfer_id=key, fingerprint="f", qr=code,
                                                     amount_satang=None, category="groceries"))

    with ThreadPoolExecutor(16) as pool:
        first = list(pool.map(pay, jobs))
        replays = Counter(pool.map(pay, [j for j, o in zip(jobs, first, strict=True) if o == "done"]))
    counts = Counter(first)
    assert set(counts) <= {"done", "insufficient_funds"}, counts
    assert replays == {"replayed": counts["done"]}, replays
    paid: Counter[str] = Counter(job[0] for job, o in zip(jobs, first, strict=True) if o == "done")
    for shop in shops:
        assert paid[shop] <= 3, (shop, paid[shop])
        left = sum(balances_of(shop, 1).values())
        assert left == 3_500 - paid[shop] * AMOUNT >= 0
    assert counts["done"] >= 140, counts  # racing payers may retry past their attempts; most are paid
    total = counts["done"] * AMOUNT
    shard_ids = shard_accounts(accounts.merchant_withdrawable, wholesaler, SHARDS)
    held = balances_of(wholesaler, SHARDS)
    assert sum(held.get(s, 0) for s in shard_ids) == total
    assert len([s for s in shard_ids if held.get(s, 0)]) == SHARDS, held  # 150+ keys spread over all 8
    assert max(held.values()) < total // 2  # no one item took the wholesaler's traffic
    assert profile_body(get_merchant(wholesaler))["withdrawable_satang"] == total

    # Withdrawals of more than any one shard holds, racing: never overdrawn.
    amount = max(held.values()) + AMOUNT
    keys = [f"wd_{i:016x}" for i in range(12)]

    def take(key: str) -> str:
        return _outcome(lambda: withdraw(wholesaler, key, f"f-{key}", amount))

    with ThreadPoolExecutor(12) as pool:
        outcomes = dict(zip(keys, pool.map(take, keys), strict=True))
        replayed = Counter(pool.map(take, [k for k, o in outcomes.items() if o == "done"]))
    taken = Counter(outcomes.values())
    assert set(taken) <= {"done", "withdrawal_not_allowed"}, taken
    assert 1 <= taken["done"] <= total // amount, taken
    assert replayed == {"replayed": taken["done"]}, replayed
    after = balances_of(wholesaler, SHARDS)
    assert min(after.get(s, 0) for s in shard_ids) >= 0
    rest = total - taken["done"] * amount
    assert sum(after.get(s, 0) for s in shard_ids) == rest
    assert drained_summary()["in_flight_satang"] == taken["done"] * amount
    # At rest, the last satang across every shard comes out in one withdrawal.
    if rest:
        assert withdraw(wholesaler, "wd_ffffffffffffffff", "f-last", rest).replayed is False
    assert sum(balances_of(wholesaler, SHARDS).values()) == 0
    report = audit_ledger()
    assert report.ok and drained_summary()["balanced"], report


@pytest.mark.timeout(300)
def test_a_draw_wider_than_one_transaction_sweeps_its_shards_first(ddb_local):
    """DynamoDB Local takes 10 items per transaction: a withdrawal from all 8
    shards (18 items) and a payment from 8 spendable shards first move the
    shards into shard 0 of their kind, then draw; nothing is lost or doubled."""
    wholesaler, shop = make_shop(700), make_shop(701)
    MerchantModel(wholesaler).update(actions=[MerchantModel.balance_shards.set(SHARDS)])
    ledger = Ledger()
    assert ledger.item_limit == 10
    for shard in range(SHARDS):
        for account_of in (accounts.merchant_withdrawable, accounts.merchant_spendable):
            ledger.post(Transfer(f"seed-{account_of.__name__}-{shard}", accounts.BUDGET_ACCOUNT,
                                 account_of(wholesaler, shard), 1_000, "test_funding"))
    assert withdraw(wholesaler, "wd_00000000000000a1", "f", 8_000).replayed is False
    assert withdraw(wholesaler, "wd_00000000000000a1", "f", 8_000).replayed is True
    service = PaymentService(policy_of=lambda _p: SpendingPolicy())
    code = qr(shop, 8_000)
    paid = service.pay_merchant(payer_id=wholesaler, transfer_id="all-spendable", fingerprint="f", qr=code,
                                amount_satang=None, category="groceries")
    assert paid.replayed is False and paid.body["balance_satang"] == 0
    assert sum(balances_of(wholesaler, SHARDS).values()) == 0
    assert drained_summary()["in_flight_satang"] == 8_000
    assert ledger.balance(accounts.merchant_withdrawable(shop)) == 8_000
    report = audit_ledger()
    assert report.ok and drained_summary()["balanced"], report
