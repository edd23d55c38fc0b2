"""Cash transfers (the seam activation calls): one payout per citizen from
the phase's treasury to their PromptPay id, held once however often it is
called, paid or returned to the treasury by the bank's answer, shown to the
citizen; the budget is never exceeded."""
from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import pii, queues
from chalicelib.ledger import Ledger, Transfer, accounts, audit_ledger
from chalicelib.payouts import dispatch, statuses
from chalicelib.payouts.cash_transfers import citizen_payouts, pay_cash_transfer
from tests.invariants import drained_summary

PHASE = "cash1"
AMOUNT = 500_000


@pytest.fixture
def treasury(moto_aws: Any) -> Any:
    ledger = Ledger()
    for shard, amount in enumerate((2 * AMOUNT, AMOUNT)):
        ledger.post(Transfer(f"fund-{shard}", accounts.BUDGET_ACCOUNT, accounts.treasury_shard(PHASE, shard),
                             amount, "phase_funding"))
    return ledger


def pay(n: int, **extra: Any) -> Any:
    cid = f"11017002307{n:02d}"
    return pay_cash_transfer(phase_id=PHASE, citizen_hash=pii.hash_id(cid), promptpay_id=cid, amount_satang=AMOUNT,
                             bank_code="006", treasury_shards=2, **extra)


def test_one_payout_per_citizen_exactly_once_within_the_budget(treasury):
    first = [pay(n) for n in range(3)]
    assert [r.status for r in first] == ["held"] * 3 and all(r.created for r in first)
    assert [pay(n).created for n in range(3)] == [False] * 3  # called again: nothing moves
    assert pay(3).status == "budget_exhausted"  # 3 x 5,000 baht took the whole budget
    summary = drained_summary()
    assert summary["in_flight_satang"] == 3 * AMOUNT and summary["treasury_satang"] == 0
    assert audit_ledger().ok and summary["balanced"]


def test_paid_or_returned_to_the_treasury_and_shown_to_the_citizen(treasury, call):
    paid, back = pay(1), pay(2)
    dispatch.dispatch_bank("006")
    sqs = boto3.client("sqs", region_name="ap-southeast-1")
    [message] = sqs.receive_message(QueueUrl=queues.queue_url(queues.bank_queue("006")))["Messages"]
    body = json.loads(message["Body"])
    assert {t["end_to_end_id"]: (t["purpose"], t["creditor"]["promptpay_id"]) for t in body["transactions"]} == {
        paid.payout_id: ("cash_transfer", "1101700230701"), back.payout_id: ("cash_transfer", "1101700230702")}
    statuses.handle_message(json.dumps({"message_type": "pacs.002", "msg_id": "m", "bank_code": "006", "statuses": [
        {"original_end_to_end_id": paid.payout_id, "status": "ACSC", "reason_code": None, "settled_at": None},
        {"original_end_to_end_id": back.payout_id, "status": "RJCT", "reason_code": "AC04", "settled_at": None}]}))
    summary = drained_summary()
    assert summary["paid_out_satang"] == AMOUNT and summary["treasury_satang"] == 2 * AMOUNT
    assert summary["in_flight_satang"] == 0 and audit_ledger().ok and summary["balanced"]
    mine = citizen_payouts(pii.hash_id("1101700230702"))
    assert mine == {PHASE: {"payout_id": back.payout_id, "status": "rejected", "amount_satang": AMOUNT,
                            "reason": "AC04"}}
    # The creditor's PromptPay id (a national ID) is never stored in clear.
    for name in boto3.client("dynamodb", region_name="ap-southeast-1").list_tables()["TableNames"]:
        items = boto3.client("dynamodb", region_name="ap-southeast-1").scan(TableName=name)["Items"]
        assert "1101700230701" not in json.dumps(items), name


def test_the_citizen_sees_the_cash_transfer_in_me(call):
    from tests.functional.registration_fixtures import phase_body, valid_cid

    assert call("PUT", "/v1/admin/phases/cashp", role="operator", mfa=True,
                body=phase_body(kind="cash_transfer"))[0] == 201
    cid = valid_cid(77)
    claims = {"cid": cid, "birth_date": "2006-05-01", "district": "1001", "nationality": "TH"}
    status, registration, _ = call("POST", "/v1/registrations", role="citizen", body={"phase_id": "cashp",
                                                                                      "consent": True}, **claims)
    assert status == 201 and registration["status"] == "accepted"
    _, before, _ = call("GET", "/v1/me", role="citizen", **claims)
    assert "payout" not in before["registrations"][0]
    result = pay_cash_transfer(phase_id="cashp", citizen_hash=pii.hash_id(cid), promptpay_id=cid,
                               amount_satang=1_000_000, bank_code="004")
    _, after, _ = call("GET", "/v1/me", role="citizen", **claims)
    assert after["registrations"][0]["payout"] == {"payout_id": result.payout_id, "status": "pending",
                                                   "amount_satang": 1_000_000}
    assert audit_ledger().ok and drained_summary()["balanced"]


def test_a_citizen_registered_in_the_app_is_paid_through_activation_and_sees_it_in_me(call):
    from datetime import UTC, datetime, timedelta

    from chalicelib.activation import plan, service
    from chalicelib.clock import iso
    from chalicelib.payouts.cash_transfers import cash_transfer_id
    from tests.functional.registration_fixtures import phase_body, valid_cid

    body = phase_body(kind="cash_transfer", waves=1)
    body["waves"] = [{"activate_at": iso(datetime.now(UTC) - timedelta(hours=1))}]
    assert call("PUT", "/v1/admin/phases/cashq", role="operator", mfa=True, body=body)[0] == 201
    cid = valid_cid(78)
    claims = {"cid": cid, "birth_date": "2006-05-01", "district": "1001", "nationality": "TH"}
    assert call("POST", "/v1/registrations", role="citizen", body={"phase_id": "cashq", "consent": True},
                **claims)[0] == 201
    # The operator activates (or the schedule does): the messages go to the activation queue.
    status, answer, _ = call("POST", "/v1/admin/phases/cashq/activate", role="operator", mfa=True, body={})
    assert status == 202 and "note" not in answer
    sqs = boto3.client("sqs", region_name="ap-southeast-1")
    url = queues.queue_url(service.ACTIVATION_QUEUE)
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in got:
            service.handle_work_item(plan.WorkItem.from_body(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    payout_id = cash_transfer_id("cashq", pii.hash_id(cid), 1)
    _, me, _ = call("GET", "/v1/me", role="citizen", **claims)
    assert me["registrations"][0]["payout"] == {"payout_id": payout_id, "status": "pending",
                                                "amount_satang": 1_000_000}
    assert me["wallet"] is None
    assert dispatch.dispatch_bank("004") == 1
    [message] = sqs.receive_message(QueueUrl=queues.queue_url(queues.bank_queue("004")))["Messages"]
    [tx] = json.loads(message["Body"])["transactions"]
    assert tx["creditor"]["promptpay_id"] == cid  # the PromptPay id is the national ID
    statuses.handle_message(json.dumps({"message_type": "pacs.002", "msg_id": "m1", "bank_code": "004", "statuses": [
        {"original_end_to_end_id": payout_id, "status": "ACSC", "reason_code": None, "settled_at": None}]}))
    _, me, _ = call("GET", "/v1/me", role="citizen", **claims)
    assert me["registrations"][0]["payout"]["status"] == "settled"
    _, phase, _ = call("GET", "/v1/admin/phases/cashq", role="operator")
    assert (phase["credited_count"], phase["credited_satang"], phase["payouts_rejected_count"]) == (1, 1_000_000, 0)
    summary = drained_summary()
    assert summary["paid_out_satang"] == 1_000_000 and audit_ledger().ok and summary["balanced"]
