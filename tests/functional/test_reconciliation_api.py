"""Reconciliation against the banks' camt.053 statements and the daily net
settlement, through the API on moto: exactly the breaks a statement has
(each kind), listed and alerted, nothing fixed; matched days; no statement."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib.alerts.models import AlertModel
from chalicelib.ledger import Ledger, Transfer, accounts, audit_ledger
from chalicelib.payouts import reconciliation, steps
from chalicelib.payouts.rules import Creditor
from tests.invariants import drained_summary

NOW = datetime(2025, 3, 18, 2, 0, tzinfo=UTC)
DAY = "2025-03-18"


@pytest.fixture
def banks(moto_aws: Any) -> Any:
    return moto_aws


def settled(bank: str, amount: int, at: str = "2025-03-18T09:00:00Z") -> str:
    ledger = Ledger()
    payout_id = f"wd_{uuid.uuid4().hex[:16]}"
    ledger.post(Transfer(f"fund-{payout_id}", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable("m1"), amount,
                         "test_funding"))
    steps.hold(ledger, steps.NewPayout(payout_id, "withdrawal", bank, amount, accounts.merchant_withdrawable("m1"),
                                       "merchant:m1", Creditor("Shop", "account_no", "1234567890"), 24), NOW)
    steps.settle(ledger, steps.get_payout(payout_id), at, NOW)
    return payout_id


def put_statement(settings: Any, bank: str, entries: list[tuple[str, int]], day: str = DAY) -> None:
    body = {"message_type": "camt.053", "bank_code": bank, "business_date": day,
            "entries": [{"end_to_end_id": e, "amount_satang": a, "booked_at": f"{day}T02:00:00Z"} for e, a in entries]}
    boto3.client("s3", region_name="ap-southeast-1").put_object(
        Bucket=settings.statement_bucket, Key=f"statements/{bank}/{day}.json", Body=json.dumps(body).encode())


def test_a_matching_statement_and_the_day_s_settlement(banks, call):
    a, b = settled("004", 10_000), settled("004", 5_000)
    c = settled("002", 7_000)
    settled("004", 1_000, at="2025-03-18T18:00:00Z")  # 01:00 on the 19th in Bangkok: the next business day
    assert call("GET", f"/v1/admin/reconciliation/004/{DAY}", role="auditor")[1]["status"] == "pending"
    put_statement(banks, "004", [(a, 10_000), (b, 5_000)])
    status, body, _ = call("POST", f"/v1/admin/reconciliation/004/{DAY}", role="operator", mfa=True)
    assert status == 202 and body["status"] == "matched" and body["matched_count"] == 2 and body["breaks"] == []
    assert call("GET", f"/v1/admin/reconciliation/004/{DAY}", role="auditor")[1]["status"] == "matched"
    assert call("POST", f"/v1/admin/reconciliation/002/{DAY}", role="operator", mfa=True)[1]["status"] == \
        "no_statement"
    _, day, _ = call("GET", f"/v1/admin/settlement/{DAY}", role="auditor")
    assert day == {"business_date": DAY, "total_satang": 22_000, "banks": [
        {"bank_code": "002", "settled_count": 1, "settled_satang": 7_000},
        {"bank_code": "004", "settled_count": 2, "settled_satang": 15_000}]}
    assert c and list(AlertModel.scan()) == []
    assert audit_ledger().ok


def test_exactly_the_breaks_of_the_statement_are_listed_and_alerted(banks, call):
    a, b, c = settled("004", 10_000), settled("004", 5_000), settled("004", 2_000)
    stranger = "wd_00000000000000ee"
    put_statement(banks, "004", [(a, 10_000), (b, 5_100), (stranger, 3_000)])
    status, body, _ = call("POST", f"/v1/admin/reconciliation/004/{DAY}", role="operator", mfa=True)
    assert status == 202 and body["status"] == "breaks" and body["matched_count"] == 1
    assert sorted(body["breaks"], key=lambda x: x["kind"]) == [
        {"end_to_end_id": b, "kind": "amount_differs", "ours_satang": 5_000, "bank_satang": 5_100},
        {"end_to_end_id": stranger, "kind": "missing_here", "bank_satang": 3_000},
        {"end_to_end_id": c, "kind": "missing_in_statement", "ours_satang": 2_000}]
    # Again: the same breaks, no second alert; nothing was fixed.
    call("POST", f"/v1/admin/reconciliation/004/{DAY}", role="operator", mfa=True)
    assert sorted(a.details.as_dict()["kind"] for a in AlertModel.scan()) == [
        "amount_differs", "missing_here", "missing_in_statement"]
    assert {x.kind for x in AlertModel.scan()} == {"reconciliation_break"}
    assert steps.get_payout(c).status == "settled" and drained_summary()["paid_out_satang"] == 17_000
    _, trail, _ = call("GET", "/v1/admin/audit", role="auditor")
    # Both runs are audited (each alert is an event of the chain too).
    assert [e["action"] for e in trail["items"] if e["action"] != "alert"] == ["reconciliation_run",
                                                                               "reconciliation_run"]


def test_the_schedule_reconciles_yesterday_once(banks):
    a = settled("004", 10_000)
    put_statement(banks, "004", [(a, 10_000)])
    later = datetime(2025, 3, 19, 1, 0, tzinfo=UTC)  # 08:00 on the 19th in Bangkok
    done = reconciliation.run_schedule(later, banks=("004", "002"))
    assert done == {"002": "no_statement", "004": "matched"}
    assert reconciliation.run_schedule(later, banks=("004", "002")) == {}  # 002 is looked for again later
    assert reconciliation.run_schedule(later + timedelta(minutes=20), banks=("004", "002")) == {
        "002": "no_statement"}


def test_bad_paths_and_roles(banks, call):
    assert call("POST", f"/v1/admin/reconciliation/999/{DAY}", role="operator", mfa=True)[0] == 400
    assert call("POST", "/v1/admin/reconciliation/004/2025-13-40", role="operator", mfa=True)[0] == 400
    assert call("POST", f"/v1/admin/reconciliation/004/{DAY}", role="operator")[0] == 403
    assert call("POST", f"/v1/admin/reconciliation/004/{DAY}", role="auditor")[0] == 403
    assert call("GET", f"/v1/admin/settlement/{DAY}", role="merchant")[0] == 403
    assert call("GET", "/v1/admin/settlement/yesterday", role="operator")[0] == 400
