"""Merchant registration, profile, reference data and review over HTTP."""
from __future__ import annotations

import pytest

from devstack import tokens
from tests.functional.payments_api_fixtures import shop_body, valid_id


def test_registration_profile_and_one_shop_per_tax_id_and_owner(world):
    me = world.api.call("GET", "/v1/merchants/me", world.shop_a)
    assert me.status == 200
    assert me.body == {"merchant_id": me.body["merchant_id"], "name": "Som Tam Shop", "status": "active",
                       "district": "1001", "size_class": "small", "spendable_satang": 0,
                       "withdrawable_satang": 0, "cash_out_eligible": True}
    pending = world.api.call("GET", "/v1/merchants/me", world.shop_c).body
    assert pending["status"] == "pending_review" and pending["cash_out_eligible"] is False
    newcomer = tokens.mint("merchant", {"cid": valid_id(300)})
    taken = world.api.call("POST", "/v1/merchants", newcomer, shop_body(valid_id(1, "0")))
    assert (taken.status, taken.code) == (409, "already_exists")
    again = world.api.call("POST", "/v1/merchants", world.shop_a, shop_body(valid_id(30, "0")))
    assert (again.status, again.code) == (409, "already_exists")
    unknown = world.api.call("GET", "/v1/merchants/me", newcomer)
    assert (unknown.status, unknown.code) == (404, "not_found")


@pytest.mark.parametrize("change, field", [
    ({"tax_id": "0000000000000"}, "tax_id"),
    ({"bank": {"bank_code": "999", "account_no": "1234567890"}}, "bank.bank_code"),
    ({"bank": {"bank_code": "004", "account_no": "12-345"}}, "bank.account_no"),
    ({"bank": {"bank_code": "004", "account_no": "123"}}, "bank.account_no"),
    ({"size_class": "huge"}, "size_class"),
    ({"district": "10"}, "district"),
    ({"location": {"lat": 48.8, "lon": 2.3}}, "location.lat"),
    ({"extra": 1}, "extra"),
])
def test_registration_refuses_bad_fields_naming_them(world, change, field):
    body = {**shop_body(valid_id(40, "0")), **change}
    reply = world.api.call("POST", "/v1/merchants", tokens.mint("merchant", {"cid": valid_id(400)}), body)
    assert (reply.status, reply.code, reply.body["error"]["details"]["field"]) == (400, "invalid_request", field)


def test_review_by_an_operator_with_mfa(world):
    c = world.merchant_id(world.shop_c)
    path = f"/v1/admin/merchants/{c}/review"
    no_mfa = world.api.call("POST", path, tokens.mint("operator", {"mfa": False}),
                            {"decision": "approve", "reason": "ok"})
    assert no_mfa.status == 403
    shop = world.api.call("POST", path, world.shop_a, {"decision": "approve", "reason": "ok"})
    assert shop.status == 403
    assert world.api.call("POST", path, world.operator, {"decision": "maybe", "reason": "?"}).status == 400
    approved = world.api.call("POST", path, world.operator, {"decision": "approve", "reason": "visited the stall"})
    assert approved.status == 200 and approved.body["status"] == "active"
    assert world.api.call("POST", "/v1/merchants/me/qr", world.shop_c, {}).status == 201
    suspended = world.api.call("POST", path, world.operator, {"decision": "suspend", "reason": "complaint"})
    assert suspended.body["status"] == "suspended"
    late = world.api.call("POST", path, world.operator, {"decision": "reject", "reason": "x"})
    assert late.status == 409
    missing = world.api.call("POST", "/v1/admin/merchants/m_nope/review", world.operator,
                             {"decision": "approve", "reason": "x"})
    assert missing.status == 404


def test_qr_endpoint(world):
    reply = world.api.call("POST", "/v1/merchants/me/qr", world.shop_a, {"amount_satang": 12_345})
    assert reply.status == 201 and reply.body["qr"].startswith("000201010212")
    assert reply.body["expires_at"].endswith("Z")
    assert world.api.call("POST", "/v1/merchants/me/qr", world.shop_a, {"amount_satang": 0}).status == 400
    assert world.api.call("POST", "/v1/merchants/me/qr", world.citizen, {}).status == 403


def test_reference_upsert_validates(world):
    bad = world.api.call("POST", "/v1/admin/merchant-reference", world.operator,
                         {"merchants": [{"tax_id": valid_id(5, "0"), "size_class": "small", "tax_compliant": "yes"}]})
    assert (bad.status, bad.body["error"]["details"]["field"]) == (400, "merchants[0].tax_compliant")
    empty = world.api.call("POST", "/v1/admin/merchant-reference", world.operator, {"merchants": []})
    assert empty.status == 400
