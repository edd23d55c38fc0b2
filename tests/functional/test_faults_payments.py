"""Faults under payments, withdrawals and the payout steps, injected at the
botocore level (tests/faults.py) so that the production code is what runs:
throttling, conflicts, a write that succeeded whose answer was lost, a crash
between two steps, a bank answering twice or contradicting itself, a bank
that goes silent. After each: the ledger audit balances, no transfer twice,
no citizen credited twice, no payout paid twice (tests/invariants.py)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from chalicelib.clock import utcnow
from chalicelib.ledger import Ledger, PendingStateError, Transfer, accounts
from chalicelib.payouts import steps
from tests.faults import THROTTLING_BODY, Crash, Faults
from tests.functional.payments_api_fixtures import World, balance
from tests.invariants import assert_invariants, drained_summary

pytestmark = pytest.mark.functional

BENEFIT = 1_000_000
SALE = 40_000


def wallet_balance() -> int:
    return balance(accounts.wallet_account("w1"))


def payments_of(snap) -> list:
    return snap.of_kind("payment")


def test_throttling_that_botocore_outlasts_pays_once(world: World):
    with Faults() as faults:
        faults.throttle("TransactWriteItems", times=2)
        reply = world.pay(world.qr(world.shop_a, SALE), key="sale-throttled")
    assert reply.status == 201, reply
    assert faults.fired("throttle") == 2
    assert wallet_balance() == BENEFIT - SALE
    assert len(payments_of(assert_invariants(BENEFIT))) == 1


def test_throttling_that_outlasts_every_retry_is_a_429_and_moves_nothing_then_the_retry_pays_once(world: World):
    qr = world.qr(world.shop_a, SALE)
    with Faults() as faults:
        faults.throttle("TransactWriteItems", times=100, body=THROTTLING_BODY)
        refused = world.pay(qr, key="sale-storm")
    assert (refused.status, refused.code) == (429, "rate_limited"), refused
    assert refused.headers.get("retry-after")
    assert wallet_balance() == BENEFIT and not payments_of(assert_invariants(BENEFIT))
    again = world.pay(qr, key="sale-storm")
    assert again.status == 201, again
    assert wallet_balance() == BENEFIT - SALE
    assert len(payments_of(assert_invariants(BENEFIT))) == 1


@pytest.mark.parametrize("code", ["TransactionConflict", "ThrottlingError"])
def test_a_cancelled_transaction_is_retried_and_pays_once(world: World, code: str):
    with Faults() as faults:
        faults.cancel(times=3, code=code)
        reply = world.pay(world.qr(world.shop_a, SALE), key=f"sale-{code}")
    assert reply.status == 201, reply
    assert faults.fired("cancel") == 3
    assert wallet_balance() == BENEFIT - SALE
    assert len(payments_of(assert_invariants(BENEFIT))) == 1


def test_conflicts_without_end_are_a_429_with_nothing_written(world: World):
    with Faults() as faults:
        faults.cancel(times=1000)
        reply = world.pay(world.qr(world.shop_a, SALE), key="sale-hot")
    assert (reply.status, reply.code) == (429, "rate_limited"), reply
    assert wallet_balance() == BENEFIT and not payments_of(assert_invariants(BENEFIT))


def test_a_payment_whose_answer_was_lost_is_retried_by_botocore_and_moves_money_once(world: World):
    with Faults() as faults:
        faults.timeout_after_write("TransactWriteItems")
        reply = world.pay(world.qr(world.shop_a, SALE), key="sale-lost")
    assert faults.fired("timeout_after") == 1
    assert reply.status == 201, reply
    assert reply.body["amount_satang"] == SALE and reply.body["balance_satang"] == BENEFIT - SALE
    assert wallet_balance() == BENEFIT - SALE
    assert world.pay(world.qr(world.shop_a, SALE), key="sale-lost").status in (201, 409)
    assert len(payments_of(assert_invariants(BENEFIT))) == 1


def test_a_crash_after_the_payment_was_written_then_the_app_retrying_the_key_pays_once(world: World):
    qr = world.qr(world.shop_a, SALE)
    with Faults() as faults:
        faults.crash("TransactWriteItems", after=True)
        with pytest.raises(Crash):
            world.pay(qr, key="sale-crash")
    assert wallet_balance() == BENEFIT - SALE  # written before the process died
    again = world.pay(qr, key="sale-crash")
    assert again.status == 201 and again.headers.get("idempotent-replayed") == "true", again
    assert again.body["balance_satang"] == BENEFIT - SALE
    assert wallet_balance() == BENEFIT - SALE
    assert len(payments_of(assert_invariants(BENEFIT))) == 1


def test_a_round_2_payment_under_conflicts_and_a_lost_answer_pays_the_wholesaler_once(world: World):
    # Shop A earns in round 1, then buys from the wholesaler (shop B) in round 2.
    assert world.pay(world.qr(world.shop_a, 300_000)).status == 201
    qr = world.qr(world.shop_b, None)
    with Faults() as faults:
        faults.cancel(times=2).timeout_after_write("TransactWriteItems", skip=0)
        reply = world.api.call("POST", "/v1/merchant-payments", world.shop_a,
                               {"qr": qr, "amount_satang": 100_000, "category": "groceries"}, key="supply-1")
    assert reply.status == 201, reply
    wholesaler = world.merchant_id(world.shop_b)
    assert balance(accounts.merchant_withdrawable(wholesaler)) == 100_000
    snap = assert_invariants(BENEFIT)
    assert snap.kinds()["merchant_payment"] == 1


# -- withdrawals and payouts ------------------------------------------------------------

def fund_withdrawable(merchant_id: str, amount: int) -> None:
    Ledger().post(Transfer(f"fund-{uuid.uuid4().hex[:8]}", accounts.BUDGET_ACCOUNT,
                           accounts.merchant_withdrawable(merchant_id), amount, "test_funding"))


@pytest.fixture
def shop(world: World) -> tuple[World, str]:
    merchant_id = world.merchant_id(world.shop_a)
    fund_withdrawable(merchant_id, 100_000)
    return world, merchant_id


def withdraw(w: World, amount: int, key: str):
    return w.api.call("POST", "/v1/withdrawals", w.shop_a, {"amount_satang": amount}, key=key)


def test_a_withdrawal_whose_answer_was_lost_holds_once(shop):
    w, merchant_id = shop
    with Faults() as faults:
        faults.timeout_after_write("TransactWriteItems")
        reply = withdraw(w, 30_000, "cash-lost")
    assert faults.fired() == 1 and reply.status == 202, reply
    assert balance(accounts.merchant_withdrawable(merchant_id)) == 70_000
    snap = assert_invariants(BENEFIT)
    assert len(snap.payouts) == 1 and drained_summary()["in_flight_satang"] == 30_000


def test_a_crash_after_the_hold_then_the_retry_answers_the_same_withdrawal(shop):
    w, merchant_id = shop
    with Faults() as faults:
        faults.crash("TransactWriteItems", after=True)
        with pytest.raises(Crash):
            withdraw(w, 30_000, "cash-crash")
    again = withdraw(w, 30_000, "cash-crash")
    assert again.status == 202 and again.headers.get("idempotent-replayed") == "true", again
    assert balance(accounts.merchant_withdrawable(merchant_id)) == 70_000
    assert len(assert_invariants(BENEFIT).payouts) == 1


def held_payout(w: World, key: str, amount: int = 30_000):
    reply = withdraw(w, amount, key)
    assert reply.status == 202, reply
    item = steps.get_payout(reply.body["withdrawal_id"])
    assert item is not None
    return item


def test_a_crash_between_the_hold_and_the_mark_sent_leaves_it_pending_and_the_rerun_goes_on(shop):
    w, _ = shop
    item = held_payout(w, "cash-steps")
    with Faults() as faults:
        faults.crash("UpdateItem", table="payouts")
        with pytest.raises(Crash):
            steps.mark_sent(item, "msg-1", utcnow())
    assert steps.get_payout(item.payout_id).status == "pending"
    assert_invariants(BENEFIT)
    assert steps.mark_sent(item, "msg-1", utcnow()) is True
    assert steps.mark_sent(item, "msg-1", utcnow()) is False  # the dispatcher again: nothing changes
    assert steps.get_payout(item.payout_id).status == "sent"
    assert_invariants(BENEFIT)


def test_a_crash_after_the_settle_then_the_bank_answer_delivered_again_pays_once(shop):
    w, _ = shop
    item = held_payout(w, "cash-settle")
    steps.mark_sent(item, "msg-2", utcnow())
    ledger = Ledger()
    with Faults() as faults:
        faults.crash("TransactWriteItems", after=True)
        with pytest.raises(Crash):
            steps.settle(ledger, steps.get_payout(item.payout_id), None, utcnow())
    # SQS delivers the bank's ACSC again; then once more, with a timeout after the write.
    replay = steps.settle(ledger, steps.get_payout(item.payout_id), None, utcnow())
    assert replay.created is False
    with Faults() as faults:
        faults.timeout_after_write("TransactWriteItems")
        assert steps.settle(ledger, steps.get_payout(item.payout_id), None, utcnow()).created is False
    snap = assert_invariants(BENEFIT)
    assert snap.payouts[item.payout_id].status == "settled"
    assert sum(v for k, v in snap.balances.items() if k.startswith("paid_out:")) == 30_000


def test_a_settle_whose_answer_was_lost_is_retried_and_pays_once(shop):
    w, _ = shop
    item = held_payout(w, "cash-lost-settle")
    steps.mark_sent(item, "msg-3", utcnow())
    with Faults() as faults:
        faults.timeout_after_write("TransactWriteItems")
        posted = steps.settle(Ledger(), steps.get_payout(item.payout_id), None, utcnow())
    assert faults.fired() == 1
    assert posted.record.amount_satang == 30_000
    assert assert_invariants(BENEFIT).payouts[item.payout_id].status == "settled"


def test_a_reject_after_a_settle_moves_nothing(shop):
    w, merchant_id = shop
    item = held_payout(w, "cash-contra")
    steps.mark_sent(item, "msg-4", utcnow())
    steps.settle(Ledger(), steps.get_payout(item.payout_id), None, utcnow())
    with pytest.raises(PendingStateError):
        steps.reject(Ledger(), steps.get_payout(item.payout_id), "AC04", utcnow())
    assert balance(accounts.merchant_withdrawable(merchant_id)) == 70_000
    assert assert_invariants(BENEFIT).payouts[item.payout_id].status == "settled"


def test_out_of_order_a_reject_before_the_mark_sent_returns_the_money_once(shop):
    w, merchant_id = shop
    item = held_payout(w, "cash-early")
    steps.reject(Ledger(), steps.get_payout(item.payout_id), "AC04", utcnow())  # the bank answers first
    assert steps.mark_sent(item, "msg-5", utcnow()) is False  # the late dispatcher changes nothing
    steps.reject(Ledger(), steps.get_payout(item.payout_id), "AC04", utcnow())  # delivered twice
    assert balance(accounts.merchant_withdrawable(merchant_id)) == 100_000
    assert assert_invariants(BENEFIT).payouts[item.payout_id].status == "rejected"


def test_a_silent_bank_leaves_the_money_in_flight_flagged_for_inquiry_and_listed(shop):
    w, _ = shop
    item = held_payout(w, "cash-silent")
    steps.mark_sent(item, "msg-6", utcnow() - timedelta(hours=25))  # sent a day ago; no word since
    sent = steps.get_payout(item.payout_id)
    assert steps.flag_inquiry(sent) is True
    assert steps.flag_inquiry(sent) is False  # flagged once, whatever runs twice
    listed = w.api.call("GET", f"/v1/admin/payouts/{item.payout_id}", w.operator)
    assert listed.status == 200 and listed.body["inquiry"] is True and listed.body["status"] == "sent"
    assert drained_summary()["in_flight_satang"] == 30_000  # never reversed on silence alone
    # The bank's late ACSC still settles it, once.
    steps.settle(Ledger(), steps.get_payout(item.payout_id), None, utcnow())
    steps.settle(Ledger(), steps.get_payout(item.payout_id), None, utcnow())
    assert assert_invariants(BENEFIT).payouts[item.payout_id].status == "settled"
