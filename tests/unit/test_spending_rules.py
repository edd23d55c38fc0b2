"""Worked examples of the spending rules (pure, no I/O)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import InvalidRequestError, RuleError
from chalicelib.merchants.rules import MerchantView
from chalicelib.payments.rules import (
    SpendingPolicy,
    WalletView,
    check_round1,
    check_round2,
    debit_failure,
    split_round2,
)
from chalicelib.validation import Category

NOW = "2025-04-10T10:00:00.000000Z"
LATER = "2025-10-07T02:00:00.000000Z"
EARLIER = "2025-04-01T02:00:00.000000Z"
WALLET = WalletView("active", LATER, 1_000_000)
SHOP = MerchantView("m_1", "Som Tam", "active", "small", "1001")
POLICY = SpendingPolicy()


def _round1(**changes):
    args = dict(wallet=WALLET, merchant=SHOP, policy=POLICY, citizen_district="1001",
                category="groceries", amount_satang=40_000, now_iso=NOW)
    args.update(changes)
    check_round1(**args)


def _code(fn, **changes):
    with pytest.raises(RuleError) as err:
        fn(**changes)
    assert err.value.status == 422
    return err.value.code


def test_a_citizen_pays_a_small_shop_in_their_district():
    _round1()


@pytest.mark.parametrize("wallet,code", [
    (WalletView(None, None, 0), "wallet_not_active"),
    (WalletView("pending", None, 0), "wallet_not_active"),
    (WalletView("suspended", LATER, 1_000_000), "wallet_not_active"),
    (WalletView("expired", EARLIER, 0), "wallet_expired"),
    (WalletView("active", EARLIER, 1_000_000), "wallet_expired"),
    (WalletView("active", NOW, 1_000_000), "wallet_expired"),
])
def test_wallet_state(wallet, code):
    assert _code(_round1, wallet=wallet) == code


@pytest.mark.parametrize("shop", [
    MerchantView("m_1", "X", "pending_review", "small", "1001"),
    MerchantView("m_1", "X", "suspended", "small", "1001"),
    MerchantView("m_1", "X", "rejected", "small", "1001"),
    MerchantView("m_1", "X", "active", "large", "1001"),
    MerchantView("m_1", "X", "active", "medium", "1001"),
])
def test_merchant_not_eligible(shop):
    assert _code(_round1, merchant=shop) == "merchant_not_eligible"


def test_a_phase_may_allow_medium_shops():
    _round1(merchant=MerchantView("m_1", "X", "active", "medium", "1001"),
            policy=SpendingPolicy.of("district", ["small", "medium"], None))


@pytest.mark.parametrize("scope,citizen,ok", [
    ("district", "1001", True), ("district", "1002", False),
    ("province", "1050", True), ("province", "5001", False),
    ("nationwide", "9601", True), ("district", None, False),
])
def test_scope(scope, citizen, ok):
    policy = SpendingPolicy.of(scope, None, None)
    if ok:
        _round1(policy=policy, citizen_district=citizen)
    else:
        assert _code(_round1, policy=policy, citizen_district=citizen) == "district_mismatch"


@pytest.mark.parametrize("category", sorted(SpendingPolicy().restricted_categories))
def test_negative_list(category):
    assert _code(_round1, category=category) == "category_restricted"


def test_balance_exactly_enough_and_one_satang_short():
    _round1(amount_satang=1_000_000)
    assert _code(_round1, amount_satang=1_000_001) == "insufficient_funds"


def test_order_of_checks_wallet_before_merchant_before_scope_before_category_before_balance():
    bad = dict(wallet=WalletView("expired", EARLIER, 0),
               merchant=MerchantView("m_1", "X", "suspended", "large", "5001"),
               category="alcohol", amount_satang=10**9)
    assert _code(_round1, **bad) == "wallet_expired"
    bad.pop("wallet")
    assert _code(_round1, **bad) == "merchant_not_eligible"
    bad["merchant"] = MerchantView("m_1", "X", "active", "small", "5001")
    assert _code(_round1, **bad) == "district_mismatch"
    bad.pop("merchant")
    assert _code(_round1, **bad) == "category_restricted"
    bad.pop("category")
    assert _code(_round1, **bad) == "insufficient_funds"


LARGE_FAR = MerchantView("m_2", "Wholesale", "active", "large", "5001")


def test_round2_any_size_any_place():
    check_round2(payer=SHOP, payee=LARGE_FAR, category="groceries")


def test_round2_negative_list_still_applies():
    assert _code(check_round2, payer=SHOP, payee=LARGE_FAR, category="alcohol") == "category_restricted"


def test_round2_inactive_payer_or_payee():
    off = MerchantView("m_2", "X", "suspended", "large", "5001")
    assert _code(check_round2, payer=SHOP, payee=off, category="groceries") == "merchant_not_eligible"
    assert _code(check_round2, payer=off, payee=SHOP, category="groceries") == "merchant_not_eligible"


def test_round2_cannot_pay_itself():
    with pytest.raises(InvalidRequestError):
        check_round2(payer=SHOP, payee=SHOP, category="groceries")


@pytest.mark.parametrize("spendable,withdrawable,amount,split", [
    (100, 0, 60, (60, 0)), (100, 50, 100, (100, 0)), (100, 50, 120, (100, 20)),
    (0, 50, 50, (0, 50)), (30, 20, 50, (30, 20)),
])
def test_round2_spends_spendable_first(spendable, withdrawable, amount, split):
    assert split_round2(spendable, withdrawable, amount) == split


def test_round2_insufficient():
    with pytest.raises(RuleError) as err:
        split_round2(30, 20, 51)
    assert err.value.code == "insufficient_funds"


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, 2 * 10**9))
def test_split_never_overdraws_and_adds_up(spendable, withdrawable, amount):
    try:
        a, b = split_round2(spendable, withdrawable, amount)
    except RuleError:
        assert spendable + withdrawable < amount
        return
    assert a + b == amount and 0 <= a <= spendable and 0 <= b <= withdrawable
    assert b == 0 or a == spendable


@pytest.mark.parametrize("item,code", [
    ({"status": "active", "expires_at": LATER, "balance_satang": 10}, "insufficient_funds"),
    ({"status": "active", "expires_at": EARLIER, "balance_satang": 10**6}, "wallet_expired"),
    ({"status": "expired", "expires_at": EARLIER, "balance_satang": 0}, "wallet_expired"),
    ({"status": "suspended", "balance_satang": 10**6}, "wallet_not_active"),
    (None, "wallet_not_active"),
])
def test_debit_failure_is_told_from_the_returned_item(item, code):
    assert debit_failure(item, 40_000, NOW).code == code


@pytest.mark.parametrize("category", ["", "Food", "a" * 41, 3, None, "x-y"])
def test_category_shape(category):
    with pytest.raises(InvalidRequestError) as caught:
        Category().parse(category, "category")
    assert caught.value.field == "category"


def test_policy_from_a_phase_definition_and_defaults():
    assert SpendingPolicy.from_definition(None) == SpendingPolicy()
    policy = SpendingPolicy.from_definition({"spending_scope": "province", "allowed_size_classes": ["small", "medium"],
                                             "restricted_categories": ["lottery"]})
    assert policy.spending_scope == "province" and policy.allowed_size_classes == {"small", "medium"}
    assert policy.restricted_categories == {"lottery"}
