"""The payment use cases on moto, below HTTP: every rule code for round 1
(QR), cards and round 2, replays, and the ledger balanced after each."""
from __future__ import annotations

import pytest
from stdnum.th import pin as thai_pin

from chalicelib import pii
from chalicelib.clock import iso, utcnow
from chalicelib.config import rebuild
from chalicelib.ledger import Ledger, Transfer, accounts, audit_ledger
from chalicelib.merchants.service import (
    get_merchant,
    merchant_id_of,
    register_merchant,
    upsert_reference,
)
from chalicelib.merchants.validation import ReferenceEntry, parse_registration
from chalicelib.payments.rules import SpendingPolicy
from chalicelib.payments.service import PaymentService, make_qr
from chalicelib.registration.models import BenefitModel
from chalicelib.switches import set_switch
from tests.functional.payments_fixtures import PHASE, credit_wallet
from tests.invariants import drained_summary


def valid_id(stem: str) -> str:
    body = stem.rjust(12, "1")[:12]
    return body + thai_pin.calc_check_digit(body)


CITIZEN = valid_id("110170020345")
OWNER_A, OWNER_B = valid_id("310170020345"), valid_id("310170020346")
TAX_A, TAX_B = valid_id("010553700001"), valid_id("010553700002")


def shop_body(tax_id, district="1001", size_class="small", name="Som Tam Shop"):
    return {"name": name, "tax_id": tax_id, "business_type": "restaurant", "size_class": size_class,
            "district": district, "location": {"lat": 13.75, "lon": 100.5},
            "bank": {"bank_code": "004", "account_no": "1234567890"}}


@pytest.fixture
def world(moto_aws):
    rebuild()
    upsert_reference([ReferenceEntry(TAX_A, "small", True), ReferenceEntry(TAX_B, "large", True)])
    register_merchant(OWNER_A, parse_registration(shop_body(TAX_A)))
    register_merchant(OWNER_B, parse_registration(shop_body(TAX_B, district="5001", name="Big Wholesale")))
    ledger = Ledger()
    credit_wallet(ledger, "w1")
    BenefitModel(pii.hash_id(CITIZEN), phase_id=PHASE, registration_id="r1", wallet_id="w1", district="1001",
                 created_at=iso(utcnow())).save()
    return ledger


def service(**policy):
    return PaymentService(policy_of=lambda phase_id: SpendingPolicy.of(**{
        "spending_scope": "district", "allowed_size_classes": None, "restricted_categories": None, **policy}))


def qr_of(owner, amount=None):
    return make_qr(get_merchant(merchant_id_of(owner)), amount)["qr"]


def pay(svc, qr, key="k1", amount=None, category="groceries", district="1001"):
    return svc.pay_by_qr(citizen_hash=pii.hash_id(CITIZEN), citizen_district=district, transfer_id=f"pay:{key}",
                         fingerprint=f"fp:{key}:{amount}:{category}:{qr[-8:]}", qr=qr, amount_satang=amount,
                         category=category)


def code_of(fn, *args, **kwargs):
    with pytest.raises(Exception) as err:
        fn(*args, **kwargs)
    return getattr(err.value, "code", repr(err.value))


def balanced():
    assert audit_ledger().ok and drained_summary()["balanced"]
    return True


def test_round1_pays_and_replays(world):
    svc = service()
    qr = qr_of(OWNER_A, 40_000)
    first = pay(svc, qr)
    assert first.replayed is False
    assert first.body["amount_satang"] == 40_000 and first.body["balance_satang"] == 960_000
    assert first.body["merchant_name"] == "Som Tam Shop" and first.body["status"] == "completed"
    again = pay(svc, qr)
    assert again.replayed and again.body == first.body
    assert world.balance(accounts.wallet_account("w1")) == 960_000
    assert world.balance(accounts.merchant_spendable(merchant_id_of(OWNER_A))) == 40_000
    assert balanced()



def test_same_qr_twice_is_already_used(world):
    svc = service()
    qr = qr_of(OWNER_A, 100)
    pay(svc, qr, key="a")
    assert code_of(pay, svc, qr, key="b") == "qr_already_used"
    assert balanced()


def test_large_shop_and_district(world):
    svc = service()
    assert code_of(pay, svc, qr_of(OWNER_B, 100)) == "merchant_not_eligible"
    svc_all = service(allowed_size_classes=["small", "large"])
    assert code_of(pay, svc_all, qr_of(OWNER_B, 100)) == "district_mismatch"
    assert pay(service(allowed_size_classes=["large"], spending_scope="nationwide"), qr_of(OWNER_B, 100)).body


def test_category_balance_amount(world):
    svc = service()
    assert code_of(pay, svc, qr_of(OWNER_A, 100), category="alcohol") == "category_restricted"
    assert code_of(pay, svc, qr_of(OWNER_A), amount=1_000_001) == "insufficient_funds"
    assert code_of(pay, svc, qr_of(OWNER_A)) == "invalid_request"
    assert code_of(pay, svc, qr_of(OWNER_A, 100), amount=200) == "invalid_request"
    assert pay(svc, qr_of(OWNER_A, 100), amount=100).body["amount_satang"] == 100
    assert balanced()


def test_switch(world):
    set_switch("payments", "paused", "district:1001", "outage")
    assert code_of(pay, service(), qr_of(OWNER_A, 100)) == "paused"
    set_switch("payments", "on", "district:1001", "fixed")
    assert pay(service(), qr_of(OWNER_A, 100)).body


def test_round2_spends_spendable_then_withdrawable(world):
    svc = service()
    shop_a, shop_b = merchant_id_of(OWNER_A), merchant_id_of(OWNER_B)
    pay(svc, qr_of(OWNER_A, 30_000))  # A: spendable 300 baht
    world.post(Transfer("seed", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable(shop_a), 20_000,
                        "test_funding"))
    qr = qr_of(OWNER_B, 45_000)
    res = svc.pay_merchant(payer_id=shop_a, transfer_id="mp:1", fingerprint="f", qr=qr, amount_satang=None,
                           category="groceries")
    assert res.body["amount_satang"] == 45_000 and res.body["balance_satang"] == 5_000
    assert world.balance(accounts.merchant_spendable(shop_a)) == 0
    assert world.balance(accounts.merchant_withdrawable(shop_a)) == 5_000
    assert world.balance(accounts.merchant_withdrawable(shop_b)) == 45_000
    again = svc.pay_merchant(payer_id=shop_a, transfer_id="mp:1", fingerprint="f", qr=qr, amount_satang=None,
                             category="groceries")
    assert again.replayed and again.body == res.body
    assert code_of(svc.pay_merchant, payer_id=shop_a, transfer_id="mp:2", fingerprint="f",
                   qr=qr_of(OWNER_B, 5_001), amount_satang=None, category="groceries") == "insufficient_funds"
    assert code_of(svc.pay_merchant, payer_id=shop_a, transfer_id="mp:3", fingerprint="f",
                   qr=qr_of(OWNER_A, 100), amount_satang=None, category="groceries") == "invalid_request"
    assert balanced()
