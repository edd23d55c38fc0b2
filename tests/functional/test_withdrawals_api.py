"""Withdrawals through the API (moto): who may cash out, from which balance,
to which account; idempotency; the withdrawals switch; the payout steps that
settle or return the money; the operators' list; no account number in clear."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from chalicelib.ledger import Ledger, Transfer, accounts
from chalicelib.payouts import steps
from tests.functional.payments_api_fixtures import World, balance, balanced
from tests.invariants import drained_summary

ACCOUNT_NO = "1234567890"  # shop_body's registered account


def fund_withdrawable(merchant_id: str, amount: int) -> None:
    Ledger().post(Transfer(f"fund-{uuid.uuid4().hex[:8]}", accounts.BUDGET_ACCOUNT,
                           accounts.merchant_withdrawable(merchant_id), amount, "test_funding"))


def withdraw(w: World, token: str, amount: Any, key: str | None = None):
    return w.api.call("POST", "/v1/withdrawals", token, {"amount_satang": amount}, key=key or uuid.uuid4().hex)


@pytest.fixture
def shop(world: World) -> tuple[World, str]:
    merchant_id = world.merchant_id(world.shop_a)
    fund_withdrawable(merchant_id, 100_000)
    return world, merchant_id


def test_a_withdrawal_holds_the_money_in_flight_and_is_listed(shop):
    w, merchant_id = shop
    reply = withdraw(w, w.shop_a, 30_000, key="cash-1")
    assert reply.status == 202, reply
    assert reply.body == {"withdrawal_id": reply.body["withdrawal_id"], "status": "pending",
                          "amount_satang": 30_000, "bank_code": "004"}
    withdrawal_id = reply.body["withdrawal_id"]
    assert balance(accounts.merchant_withdrawable(merchant_id)) == 70_000
    summary = drained_summary()
    assert summary["in_flight_satang"] == 30_000 and balanced()
    one = w.api.call("GET", f"/v1/withdrawals/{withdrawal_id}", w.shop_a)
    assert one.status == 200 and one.body["status"] == "pending" and one.body["inquiry"] is False
    listed = w.api.call("GET", "/v1/withdrawals", w.shop_a)
    assert [i["withdrawal_id"] for i in listed.body["items"]] == [withdrawal_id]
    assert w.api.call("GET", "/v1/merchants/me", w.shop_a).body["withdrawable_satang"] == 70_000


def test_a_replay_answers_the_first_response_and_moves_nothing(shop):
    w, merchant_id = shop
    first = withdraw(w, w.shop_a, 30_000, key="cash-2")
    again = withdraw(w, w.shop_a, 30_000, key="cash-2")
    assert again.status == 202 and again.body == first.body
    assert again.headers.get("idempotent-replayed") == "true"
    assert balance(accounts.merchant_withdrawable(merchant_id)) == 70_000
    other = withdraw(w, w.shop_a, 31_000, key="cash-2")
    assert other.status == 409 and other.code == "idempotency_conflict"
    # A replay after the money was spent elsewhere still answers the first response.
    withdraw(w, w.shop_a, 70_000)
    late = withdraw(w, w.shop_a, 30_000, key="cash-2")
    assert late.status == 202 and late.body == first.body
    assert balance(accounts.merchant_withdrawable(merchant_id)) == 0 and balanced()


def test_only_from_withdrawable_never_from_spendable(shop):
    w, merchant_id = shop
    Ledger().post(Transfer("spend", accounts.BUDGET_ACCOUNT, accounts.merchant_spendable(merchant_id), 500_000,
                           "test_funding"))
    reply = withdraw(w, w.shop_a, 100_001)
    assert reply.status == 422 and reply.code == "withdrawal_not_allowed"
    assert reply.body["error"]["details"]["reason"] == "exceeds_withdrawable"
    assert reply.body["error"]["details"]["withdrawable_satang"] == 100_000
    assert balance(accounts.merchant_withdrawable(merchant_id)) == 100_000
    assert balance(accounts.merchant_spendable(merchant_id)) == 500_000
    assert drained_summary()["in_flight_satang"] == 0 and balanced()


def test_only_an_active_tax_compliant_shop(world: World):
    pending = withdraw(world, world.shop_c, 1_000)
    assert pending.status == 422 and pending.body["error"]["details"]["reason"] == "merchant_not_active"
    from devstack import tokens
    from tests.functional.payments_api_fixtures import shop_body, valid_id

    tax_id = valid_id(44, "0")
    world.api.call("POST", "/v1/admin/merchant-reference", world.operator, {"merchants": [
        {"tax_id": tax_id, "size_class": "small", "tax_compliant": False}]})
    token = tokens.mint("merchant", {"cid": valid_id(144)})
    assert world.api.call("POST", "/v1/merchants", token, shop_body(tax_id)).status == 201
    fund_withdrawable(world.merchant_id(token), 5_000)
    reply = withdraw(world, token, 1_000)
    assert reply.status == 422 and reply.body["error"]["details"]["reason"] == "not_tax_compliant"
    nobody = withdraw(world, tokens.mint("merchant", {"cid": valid_id(145)}), 1_000)
    assert nobody.status == 404
    assert balanced()


@pytest.mark.parametrize("body, field", [
    ({"amount_satang": "100"}, "amount_satang"), ({"amount_satang": 0}, "amount_satang"),
    ({"amount_satang": 1_000_000_001}, "amount_satang"),
    ({"amount_satang": 100, "bank": {"bank_code": "002", "account_no": "9999999999"}}, "bank"), ({}, "amount_satang")])
def test_bad_requests_name_the_field(shop, body, field):
    w, merchant_id = shop
    reply = w.api.call("POST", "/v1/withdrawals", w.shop_a, body, key="k")
    assert reply.status == 400 and reply.body["error"]["details"]["field"] == field, reply
    assert balance(accounts.merchant_withdrawable(merchant_id)) == 100_000


def test_no_key_is_a_400_and_moves_nothing(shop):
    w, _merchant_id = shop
    reply = w.api.call("POST", "/v1/withdrawals", w.shop_a, {"amount_satang": 100})
    assert reply.status == 400 and reply.body["error"]["details"]["field"] == "Idempotency-Key"


@pytest.mark.parametrize("scope", ["all", "district:1001", "bank:004"])
def test_the_withdrawals_switch_pauses_and_resumes(shop, scope):
    w, merchant_id = shop
    put = {"operation": "withdrawals", "state": "paused", "scope": scope, "reason": "bank incident"}
    assert w.api.call("PUT", "/v1/admin/switches", w.operator, put).status == 200
    reply = withdraw(w, w.shop_a, 1_000)
    assert reply.status == 503 and reply.code == "paused" and int(reply.headers["retry-after"]) > 0
    assert balance(accounts.merchant_withdrawable(merchant_id)) == 100_000
    assert w.api.call("PUT", "/v1/admin/switches", w.operator, {**put, "state": "on"}).status == 200
    assert withdraw(w, w.shop_a, 1_000).status == 202


def test_other_shops_see_no_withdrawal_of_mine(shop):
    w, _ = shop
    withdrawal_id = withdraw(w, w.shop_a, 1_000).body["withdrawal_id"]
    assert w.api.call("GET", f"/v1/withdrawals/{withdrawal_id}", w.shop_b).status == 404
    assert w.api.call("GET", "/v1/withdrawals", w.shop_b).body["items"] == []
    assert w.api.call("GET", "/v1/withdrawals/wd_00000000deadbeef", w.shop_a).status == 404
    assert w.api.call("GET", "/v1/withdrawals/not-an-id", w.shop_a).status == 400


def _now() -> datetime:
    return datetime.now(UTC)


def test_settled_pays_out_and_rejected_returns_the_money(shop):
    w, merchant_id = shop
    paid = withdraw(w, w.shop_a, 30_000).body["withdrawal_id"]
    back = withdraw(w, w.shop_a, 20_000).body["withdrawal_id"]
    ledger = Ledger()
    steps.settle(ledger, steps.get_payout(paid), "2025-03-18T09:00:00Z", _now())
    steps.reject(ledger, steps.get_payout(back), "AC04", _now())
    # The same answers again move nothing.
    assert not steps.settle(ledger, steps.get_payout(paid), "2025-03-18T09:00:00Z", _now()).created
    assert not steps.reject(ledger, steps.get_payout(back), "AC04", _now()).created
    summary = drained_summary()
    assert summary["paid_out_satang"] == 30_000 and summary["in_flight_satang"] == 0
    assert balance(accounts.merchant_withdrawable(merchant_id)) == 70_000 and balanced()
    settled = w.api.call("GET", f"/v1/withdrawals/{paid}", w.shop_a).body
    assert settled["status"] == "settled" and settled["settled_at"].startswith("2025-03-18T09:00:00")
    rejected = w.api.call("GET", f"/v1/withdrawals/{back}", w.shop_a).body
    assert rejected["status"] == "rejected" and rejected["reason"] == "AC04"


def test_operators_list_and_filter_payouts_and_auditors_read_them(shop):
    w, _ = shop
    first = withdraw(w, w.shop_a, 1_000).body["withdrawal_id"]
    second = withdraw(w, w.shop_a, 2_000).body["withdrawal_id"]
    steps.reject(Ledger(), steps.get_payout(first), "AC01", _now())
    reply = w.api.call("GET", "/v1/admin/payouts", w.operator)
    assert reply.status == 200 and [i["payout_id"] for i in reply.body["items"]] == [second, first]
    assert reply.body["items"][0]["kind"] == "withdrawal" and reply.body["items"][0]["bank_code"] == "004"
    rejected = w.api.call("GET", "/v1/admin/payouts?status=rejected&bank_code=004&kind=withdrawal", w.operator)
    assert [i["payout_id"] for i in rejected.body["items"]] == [first]
    assert w.api.call("GET", "/v1/admin/payouts?bank_code=002", w.operator).body["items"] == []
    page = w.api.call("GET", "/v1/admin/payouts?limit=1", w.operator).body
    rest = w.api.call("GET", f"/v1/admin/payouts?limit=1&cursor={page['next_cursor']}", w.operator).body
    assert [i["payout_id"] for i in page["items"] + rest["items"]] == [second, first] and rest["next_cursor"] is None
    from devstack import tokens

    auditor = tokens.mint("auditor", {})
    assert w.api.call("GET", f"/v1/admin/payouts/{first}", auditor).body["status"] == "rejected"
    assert w.api.call("GET", "/v1/admin/payouts", w.shop_a).status == 403
    assert w.api.call("GET", "/v1/admin/payouts?status=lost", w.operator).status == 400
    assert w.api.call("GET", "/v1/admin/payouts?cursor=%%%", w.operator).status == 400


def test_no_account_number_in_clear_in_any_table(shop):
    w, _ = shop
    withdraw(w, w.shop_a, 1_000)
    ddb = boto3.client("dynamodb", region_name="ap-southeast-1")
    for name in ddb.list_tables()["TableNames"]:
        if name.startswith("wallet-test-"):
            text = json.dumps(ddb.scan(TableName=name)["Items"])
            assert ACCOUNT_NO not in text, name
