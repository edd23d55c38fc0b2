"""Card payments below HTTP on moto: the PIN first (five wrong lock the
card), then the round 1 rules with the district of the card's record."""
from __future__ import annotations

import pytest

from chalicelib import pii
from chalicelib.clock import iso, utcnow
from chalicelib.config import rebuild
from chalicelib.ledger import Ledger, accounts, audit_ledger
from chalicelib.merchants.service import merchant_id_of, register_merchant, upsert_reference
from chalicelib.merchants.validation import ReferenceEntry, parse_registration
from chalicelib.payments.rules import SpendingPolicy
from chalicelib.payments.service import PaymentService
from chalicelib.registration.cards import card_key, hash_pin, new_card_code
from chalicelib.registration.models import CardModel
from tests.functional.payments_fixtures import PHASE, credit_wallet
from tests.functional.test_merchants_service import OTHER, OWNER, TAX, TAX2, body
from tests.invariants import drained_summary

PIN = "482915"


@pytest.fixture
def card(moto_aws):
    rebuild()
    upsert_reference([ReferenceEntry(TAX, "small", True), ReferenceEntry(TAX2, "small", True)])
    register_merchant(OWNER, parse_registration(body(TAX)))
    far = body(TAX2)
    far["district"] = "5001"
    register_merchant(OTHER, parse_registration(far))
    credit_wallet(Ledger(), "w1")
    code = new_card_code()
    CardModel(card_key(code), wallet_id="w1", citizen_hash=pii.hash_id("x"), phase_id=PHASE, district="1001",
              pin_hash=hash_pin(PIN), point_id="pt1", created_at=iso(utcnow())).save()
    return code


SERVICE = PaymentService(policy_of=lambda _phase: SpendingPolicy())


def pay(code, pin=PIN, key="k1", amount=40_000, category="groceries", owner=OWNER):
    return SERVICE.pay_by_card(merchant_id=merchant_id_of(owner), transfer_id=f"cpay:{key}",
                               fingerprint=f"{code}{pin}{amount}{category}", card_code=code, pin=pin,
                               amount_satang=amount, category=category)


def code_of(*args, **kwargs):
    with pytest.raises(Exception) as err:
        pay(*args, **kwargs)
    return getattr(err.value, "code", repr(err.value))


def test_a_card_pays_once_per_key(card):
    first = pay(card)
    assert first.body["balance_satang"] == 960_000 and not first.replayed
    assert pay(card).replayed
    assert Ledger().balance(accounts.wallet_account("w1")) == 960_000
    assert audit_ledger().ok and drained_summary()["balanced"]


def test_wrong_pins_lock_the_card_at_the_fifth(card):
    codes = [code_of(card, pin="111222", key=f"w{i}") for i in range(5)]
    assert codes == ["pin_invalid"] * 4 + ["card_locked"]
    assert code_of(card, key="after") == "card_locked"  # even with the right PIN
    assert Ledger().balance(accounts.wallet_account("w1")) == 1_000_000


def test_round1_rules_with_the_card_district(card):
    assert code_of(card, owner=OTHER) == "district_mismatch"
    assert code_of(card, category="tobacco") == "category_restricted"
    assert code_of(card, amount=1_000_001) == "insufficient_funds"
    assert code_of("0000-0000-0000") in ("invalid_request", "not_found")
