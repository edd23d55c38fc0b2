"""PROGRAM.md's rules as worked examples, with the numbers of phase 3.

Each test tells one small story (who, what, how much) and checks what the
person in it would see: accepted or the reason, when money arrives, whether
a sale goes through and with which code, which balance pays. Amounts are in
satang: 10,000 baht = 1,000,000 satang. Pure: the rules are functions of
data, run here without moto, sockets or Chalice.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.activation.plan import (
    CREDIT,
    PhasePlan,
    RunRef,
    credit_due_at,
    due_credit_runs,
    expires_at_for,
    expiry_due_at,
)
from chalicelib.eligibility import Citizen, PhaseRules, assign_wave, decide, registration_open
from chalicelib.errors import InvalidRequestError, RuleError
from chalicelib.merchants.rules import MerchantView, check_cash_out, may_cash_out
from chalicelib.payments.rules import (
    DEFAULT_RESTRICTED_CATEGORIES,
    SpendingPolicy,
    WalletView,
    check_round1,
    check_round2,
    split_round2,
)
from chalicelib.phases.definition import parse_definition

BAHT = 100  # satang
TEN_THOUSAND_BAHT = 10_000 * BAHT
UTC = UTC

PHASE_3 = {
    "name": "Phase 3: ages 16-20", "kind": "wallet",
    "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16",
    "exclusion_lists": ["welfare_card", "prisoners"],
    "registration_opens_at": "2025-03-01T00:00:00Z", "registration_closes_at": "2025-03-31T00:00:00Z",
    "amount_satang": TEN_THOUSAND_BAHT,
    "tranches": [{"amount_satang": 5_000 * BAHT, "after_days": 0}, {"amount_satang": 5_000 * BAHT, "after_days": 30}],
    "waves": [{"activate_at": "2025-04-01T02:00:00Z"}, {"activate_at": "2025-04-02T02:00:00Z"}],
    "expires_after_days": 180, "spending_scope": "district", "allowed_size_classes": ["small"],
    "restricted_categories": sorted(DEFAULT_RESTRICTED_CATEGORIES), "budget_satang": 2_700_000 * TEN_THOUSAND_BAHT,
}
RULES = PhaseRules.from_definition("p3", PHASE_3)
PLAN = PhasePlan.from_definition("p3", PHASE_3)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def citizen(born: str = "2006-05-01", nationality: str = "TH", district: str = "1001", who: str = "h1") -> Citizen:
    return Citizen(who, date.fromisoformat(born), nationality, district)


def outcome(person: Citizen, excluded_on: tuple[str, ...] = (), benefit_phase_id: str | None = None) -> str:
    decision = decide(RULES, person, excluded_on, benefit_phase_id)
    return decision.status if decision.accepted else f"rejected:{decision.reason}"


def code(check: Any, **kwargs: Any) -> str:
    try:
        check(**kwargs)
    except RuleError as exc:
        return exc.code
    return "ok"


# -- eligibility ---------------------------------------------------------------------

@pytest.mark.parametrize("born, expected", [
    ("2004-09-16", "accepted"),                  # the first day of the window: in
    ("2008-09-16", "accepted"),                  # the last day: in (inclusive)
    ("2004-09-15", "rejected:outside_cohort"),   # a day too old
    ("2008-09-17", "rejected:outside_cohort"),   # a day too young
])
def test_the_cohort_window_is_inclusive_at_both_ends(born: str, expected: str) -> None:
    assert outcome(citizen(born)) == expected


def test_only_thai_nationals_and_nationality_is_checked_first() -> None:
    assert outcome(citizen(nationality="LA")) == "rejected:not_thai"
    # Out of the cohort as well: the first reason that applies is given.
    assert outcome(citizen("1990-01-01", nationality="LA")) == "rejected:not_thai"


def test_exclusion_lists_reject_in_the_phase_s_order_and_only_the_lists_it_names() -> None:
    assert outcome(citizen(), ("prisoners",)) == "rejected:excluded:prisoners"
    assert outcome(citizen(), ("prisoners", "welfare_card")) == "rejected:excluded:welfare_card"
    # A list this phase does not name (say, income over the cap) does not matter here.
    assert outcome(citizen(), ("income_over_cap",)) == "accepted"


def test_one_benefit_per_person_across_all_phases() -> None:
    # Accepted in phase 2 before: rejected in phase 3.
    assert outcome(citizen(), benefit_phase_id="p2") == "rejected:already_benefited"
    # The benefit of phase 3 itself is this registration's own (a retried request).
    assert outcome(citizen(), benefit_phase_id="p3") == "accepted"


def test_registration_opens_inclusive_and_closes_exclusive() -> None:
    assert not registration_open(RULES, at("2025-02-28T23:59:59Z"))
    assert registration_open(RULES, at("2025-03-01T00:00:00Z"))
    assert registration_open(RULES, at("2025-03-30T23:59:59Z"))
    assert not registration_open(RULES, at("2025-03-31T00:00:00Z"))


# -- waves and tranches -----------------------------------------------------------------

def test_two_tranches_of_5000_baht_are_due_at_the_wave_plus_their_days() -> None:
    # Wave 1 at 1 April 02:00, wave 2 at 2 April 02:00; the second tranche 30 days later.
    assert credit_due_at(PLAN, 1, 1) == at("2025-04-01T02:00:00Z")
    assert credit_due_at(PLAN, 1, 2) == at("2025-05-01T02:00:00Z")
    assert credit_due_at(PLAN, 2, 1) == at("2025-04-02T02:00:00Z")
    assert credit_due_at(PLAN, 2, 2) == at("2025-05-02T02:00:00Z")
    assert sum(t.amount_satang for t in PLAN.tranches) == TEN_THOUSAND_BAHT


def test_what_is_due_on_1_may_at_three() -> None:
    due = due_credit_runs(PLAN, at("2025-05-01T03:00:00Z"))
    assert due == [RunRef(CREDIT, 1, 1), RunRef(CREDIT, 1, 2), RunRef(CREDIT, 2, 1)]
    # The next day at 02:00 sharp wave 2's second tranche is due as well.
    assert RunRef(CREDIT, 2, 2) in due_credit_runs(PLAN, at("2025-05-02T02:00:00Z"))


def test_tranches_must_add_up_to_the_amount() -> None:
    short = {**PHASE_3, "tranches": [{"amount_satang": 5_000 * BAHT, "after_days": 0}]}
    with pytest.raises(InvalidRequestError) as caught:
        parse_definition(short)
    assert caught.value.field == "tranches"
    # Without tranches: one of the whole amount at the wave's time.
    whole = parse_definition({k: v for k, v in PHASE_3.items() if k != "tranches"})
    assert whole["tranches"] == [{"amount_satang": TEN_THOUSAND_BAHT, "after_days": 0}]


def test_a_citizen_keeps_one_wave_and_waves_share_the_cohort() -> None:
    waves = [assign_wave("p3", f"citizen-{n}", 2) for n in range(2_000)]
    assert set(waves) == {1, 2}
    assert 900 <= waves.count(1) <= 1_100  # about half each
    assert [assign_wave("p3", "citizen-7", 2) for _ in range(3)] == [waves[7]] * 3


def test_money_expires_180_days_after_crediting() -> None:
    credited = at("2025-04-01T02:00:05Z")
    assert expires_at_for(credited, 180) == "2025-09-28T02:00:05.000000Z"
    # A wave's sweep is due 180 days after its last tranche.
    assert expiry_due_at(PLAN, 1) == at("2025-05-01T02:00:00Z") + timedelta(days=180)


# -- round 1: a citizen pays a shop ---------------------------------------------------

NOW = "2025-04-10T10:00:00.000000Z"
EXPIRES = "2025-09-28T02:00:00.000000Z"
FULL_WALLET = WalletView("active", EXPIRES, TEN_THOUSAND_BAHT)
NOODLES = MerchantView("m_noodles", "Noodles", "active", "small", "1001")      # Phra Nakhon, Bangkok
NEXT_DOOR = MerchantView("m_next", "Next district", "active", "small", "1002")  # Dusit, Bangkok
CHIANG_MAI = MerchantView("m_cnx", "Khao Soi", "active", "small", "5001")      # another province
DISTRICT = SpendingPolicy.from_definition(PHASE_3)


def round1(merchant: MerchantView = NOODLES, wallet: WalletView = FULL_WALLET, policy: SpendingPolicy = DISTRICT,
           category: str = "groceries", amount_satang: int = 150 * BAHT) -> str:
    return code(check_round1, wallet=wallet, merchant=merchant, policy=policy, citizen_district="1001",
                category=category, amount_satang=amount_satang, now_iso=NOW)


def test_a_150_baht_meal_in_the_citizen_s_own_district_goes_through() -> None:
    assert round1() == "ok"


@pytest.mark.parametrize("scope, next_door, chiang_mai", [
    ("district", "district_mismatch", "district_mismatch"),
    ("province", "ok", "district_mismatch"),  # 1002 is Bangkok (10..) as 1001 is; 5001 is not
    ("nationwide", "ok", "ok"),
])
def test_the_phase_s_scope_decides_where_round_1_money_is_spent(scope: str, next_door: str, chiang_mai: str) -> None:
    policy = SpendingPolicy.of(scope, ["small"], DEFAULT_RESTRICTED_CATEGORIES)
    assert (round1(NEXT_DOOR, policy=policy), round1(CHIANG_MAI, policy=policy)) == (next_door, chiang_mai)


def test_only_the_allowed_size_classes_take_round_1_money() -> None:
    department_store = MerchantView("m_big", "Department store", "active", "large", "1001")
    assert round1(department_store) == "merchant_not_eligible"
    assert round1(department_store, policy=SpendingPolicy.of("district", ["small", "large"], [])) == "ok"
    pending = MerchantView("m_new", "New shop", "pending_review", "small", "1001")
    assert round1(pending) == "merchant_not_eligible"


@pytest.mark.parametrize("category", sorted(DEFAULT_RESTRICTED_CATEGORIES))
def test_nothing_on_the_negative_list(category: str) -> None:
    assert round1(category=category) == "category_restricted"


def test_an_expired_or_pending_wallet_pays_nothing() -> None:
    assert round1(wallet=WalletView("active", "2025-04-10T09:59:59.000000Z", TEN_THOUSAND_BAHT)) == "wallet_expired"
    assert round1(wallet=WalletView("expired", EXPIRES, 0)) == "wallet_expired"
    assert round1(wallet=WalletView(None, None, 0)) == "wallet_not_active"  # its wave has not come yet


def test_the_whole_10000_baht_and_not_a_satang_more() -> None:
    assert round1(amount_satang=TEN_THOUSAND_BAHT) == "ok"
    assert round1(amount_satang=TEN_THOUSAND_BAHT + 1) == "insufficient_funds"
    after_one_meal = WalletView("active", EXPIRES, TEN_THOUSAND_BAHT - 150 * BAHT)
    assert after_one_meal.balance_satang == 985_000
    assert round1(wallet=after_one_meal, amount_satang=985_000) == "ok"
    assert round1(wallet=after_one_meal, amount_satang=985_001) == "insufficient_funds"


def test_the_checks_run_wallet_first_then_shop_then_place_then_goods_then_balance() -> None:
    expired = WalletView("active", "2025-04-01T00:00:00.000000Z", 0)
    big_far = MerchantView("m_x", "X", "active", "large", "5001")
    assert round1(big_far, wallet=expired, category="alcohol", amount_satang=1) == "wallet_expired"
    assert round1(big_far, category="alcohol", amount_satang=2 * TEN_THOUSAND_BAHT) == "merchant_not_eligible"
    assert round1(CHIANG_MAI, category="alcohol", amount_satang=2 * TEN_THOUSAND_BAHT) == "district_mismatch"
    assert round1(category="alcohol", amount_satang=2 * TEN_THOUSAND_BAHT) == "category_restricted"


# -- round 2: a shop pays a shop -------------------------------------------------------

WHOLESALER = MerchantView("m_whole", "Big Wholesale", "active", "large", "5001")


def round2(payer: MerchantView = NOODLES, payee: MerchantView = WHOLESALER, category: str = "groceries") -> str:
    return code(check_round2, payer=payer, payee=payee, category=category)


def test_round_2_goes_to_any_size_in_any_place_but_not_to_the_negative_list() -> None:
    assert round2() == "ok"  # a large wholesaler in Chiang Mai
    assert round2(category="alcohol") == "category_restricted"
    assert round2(payee=MerchantView("m_s", "Suspended", "suspended", "small", "1001")) == "merchant_not_eligible"
    with pytest.raises(InvalidRequestError):
        check_round2(payer=NOODLES, payee=NOODLES, category="groceries")  # a shop cannot pay itself


def test_paying_a_supplier_spends_spendable_first_then_withdrawable() -> None:
    # Noodles took 300 baht from citizens (spendable) and 200 baht from shops (withdrawable).
    assert split_round2(30_000, 20_000, 45_000) == (30_000, 15_000)
    assert split_round2(50_000, 20_000, 45_000) == (45_000, 0)
    assert split_round2(0, 20_000, 20_000) == (0, 20_000)
    with pytest.raises(RuleError) as caught:
        split_round2(30_000, 20_000, 50_001)
    assert caught.value.code == "insufficient_funds"


# -- cash-out --------------------------------------------------------------------------

def cash_out(status: str = "active", tax_compliant: bool = True, withdrawable_satang: int = 45_000,
             amount_satang: int = 45_000) -> str:
    try:
        check_cash_out(status=status, tax_compliant=tax_compliant, withdrawable_satang=withdrawable_satang,
                       amount_satang=amount_satang)
    except RuleError as exc:
        return f"{exc.code}:{exc.details['reason']}"
    return "ok"


def test_a_tax_compliant_wholesaler_withdraws_what_shops_paid_it() -> None:
    assert cash_out() == "ok"
    assert cash_out(amount_satang=45_001) == "withdrawal_not_allowed:exceeds_withdrawable"


def test_money_from_citizens_is_never_cash() -> None:
    # 10,000 baht of spendable money from citizens, nothing from shops: nothing to withdraw.
    assert cash_out(withdrawable_satang=0, amount_satang=100) == "withdrawal_not_allowed:exceeds_withdrawable"
    # It can still be spent at other shops, all of it.
    assert split_round2(TEN_THOUSAND_BAHT, 0, TEN_THOUSAND_BAHT) == (TEN_THOUSAND_BAHT, 0)


def test_only_an_active_tax_compliant_shop_cashes_out() -> None:
    assert cash_out(tax_compliant=False) == "withdrawal_not_allowed:not_tax_compliant"
    assert cash_out(status="suspended") == "withdrawal_not_allowed:merchant_not_active"
    assert cash_out(status="pending_review") == "withdrawal_not_allowed:merchant_not_active"
    assert may_cash_out("active", True) and not may_cash_out("active", False)
