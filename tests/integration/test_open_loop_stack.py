"""The open loop as the local stack runs it: withdrawals held in the ledger,
the app's dispatcher schedule and status handler run by the pump, the bank
simulator answering on moto server, DynamoDB Local underneath. A rejection
returns the money, an outage only delays, duplicated and reordered answers
move nothing twice, the simulator pays an instruction sent twice once, and
its statement lists what it paid."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from chalicelib.ledger import Ledger, Transfer, accounts, audit_ledger
from chalicelib.payouts import steps
from chalicelib.payouts.withdrawals import withdraw
from devstack import banksim
from tests.concurrency.test_payments_http import make_shop
from tests.invariants import drained_summary

pytestmark = pytest.mark.integration

WAIT_S = 60.0


@pytest.fixture
def simulator(local_aws: Any, local_pump: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("WALLET_DEVSTACK_DIR", str(tmp_path))
    sim = banksim.BankSimulator(local_aws.stage, local_aws.sqs_endpoint, local_aws.s3_endpoint, local_aws.region,
                                local_aws.queue_name, local_aws.statement_bucket, banks=("004",), seed=7).start()
    try:
        yield sim
    finally:
        sim.stop()


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def funded_shop(n: int, amount: int = 100_000, account_no: str = "1234567890") -> str:
    shop = make_shop(n) if account_no == "1234567890" else _shop_with_account(n, account_no)
    Ledger().post(Transfer(f"fund-{n}", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable(shop), amount,
                           "test_funding"))
    return shop


def _shop_with_account(n: int, account_no: str) -> str:
    from chalicelib import pii
    from chalicelib.merchants.models import MerchantModel

    shop = make_shop(n)
    MerchantModel(shop).update(actions=[MerchantModel.account_no_enc.set(
        pii.encrypt(account_no, context=f"merchant:{shop}"))])
    return shop


def final(payout_id: str) -> bool:
    item = steps.get_payout(payout_id)
    return item is not None and item.status in ("settled", "rejected")


def test_withdrawals_settle_or_come_back_through_the_simulated_bank(simulator):
    paid_shop, closed_shop = funded_shop(61), funded_shop(62, account_no="9876543000")
    paid = withdraw(paid_shop, "wd_000000000000a001", "f1", 30_000).body["withdrawal_id"]
    back = withdraw(closed_shop, "wd_000000000000a002", "f2", 40_000).body["withdrawal_id"]
    wait_for(lambda: final(paid) and final(back), "both answers")
    assert steps.get_payout(paid).status == "settled"
    rejected = steps.get_payout(back)
    assert rejected.status == "rejected" and rejected.reason == "AC01"  # an account ending in 000
    ledger = Ledger()
    assert ledger.balance(accounts.merchant_withdrawable(paid_shop)) == 70_000
    assert ledger.balance(accounts.merchant_withdrawable(closed_shop)) == 100_000

    # An outage that heals: nothing is answered during it, then everything is.
    banksim.write_behaviour(simulator.stage, "004", outage_until=time.time() + 4, duplicate_share=1.0, reorder=True)
    during = [withdraw(paid_shop, f"wd_000000000000b00{i}", f"g{i}", 1_000).body["withdrawal_id"] for i in range(3)]
    time.sleep(2.5)
    assert {steps.get_payout(p).status for p in during} <= {"pending", "sent"}
    wait_for(lambda: all(final(p) for p in during), "the answers after the outage")
    assert {steps.get_payout(p).status for p in during} == {"settled"}
    time.sleep(1.5)  # the duplicated answers arrive and change nothing
    summary = drained_summary()
    assert summary["paid_out_satang"] == 33_000 and summary["in_flight_satang"] == 0 and summary["balanced"]
    report = audit_ledger()
    assert report.ok, report
    from chalicelib.alerts.models import AlertModel

    assert list(AlertModel.scan()) == []

    # The same instruction again (a dispatcher that crashed before marking it): paid once.
    instruction = {"message_type": "pacs.008", "msg_id": "again", "bank_code": "004", "created_at": "x",
                   "transactions": [{"end_to_end_id": paid, "amount_satang": 30_000, "currency": "THB",
                                     "purpose": "merchant_cash_out",
                                     "creditor": {"name": "Shop", "account_no": "1234567890"}}]}
    simulator.take("004", json.dumps(instruction))
    assert sum(1 for e in simulator.books["004"].entries.values() if e["end_to_end_id"] == paid) == 1

    # The statement of the day lists what the bank paid, once each.
    day = steps.get_payout(paid).business_date
    key = simulator.statement("004", day)
    s3 = boto3.client("s3", endpoint_url=simulator._s3.meta.endpoint_url, region_name="ap-southeast-1")
    body = json.loads(s3.get_object(Bucket=simulator.bucket, Key=key)["Body"].read())
    assert body["message_type"] == "camt.053" and body["business_date"] == day
    assert sorted((e["end_to_end_id"], e["amount_satang"]) for e in body["entries"]) == sorted(
        [(paid, 30_000)] + [(p, 1_000) for p in during])

    # Reconciliation finds exactly the break the simulator was told to make, and nothing else.
    from chalicelib.payouts import reconciliation

    assert reconciliation.reconcile("004", day)["status"] == "matched"
    for kind in banksim.BREAK_KINDS:
        simulator.statement("004", day, kind)
        result = reconciliation.reconcile("004", day)
        assert result["status"] == "breaks" and [b["kind"] for b in result["breaks"]] == [kind], result
        assert result["matched_count"] == len(during) + (1 if kind == "missing_here" else 0)
