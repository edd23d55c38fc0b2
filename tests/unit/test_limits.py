"""Each domain limit is defined once (chalicelib/limits.py) and every spec
that checks it agrees: the drifts found in review stay gone."""
from __future__ import annotations

import pathlib
from typing import Any

import pytest

from chalicelib import limits
from chalicelib.activation.requests import ACTIVATE_BODY
from chalicelib.errors import InvalidRequestError
from chalicelib.exclusions.requests import EXCLUSIONS_BODY
from chalicelib.ledger import accounts
from chalicelib.ledger.core import Transfer, TransferRecord
from chalicelib.merchants.validation import MERCHANT_REFERENCE_BODY, MERCHANT_REGISTRATION_BODY
from chalicelib.phases.definition import PHASE_BODY, parse_definition
from chalicelib.registration.requests import ASSISTED_REGISTRATION_BODY, REGISTRATION_BODY
from chalicelib.switches import SWITCH_BODY
from chalicelib.transactions import transaction_item
from chalicelib.validation import BankCode, Money

CHALICELIB = pathlib.Path(__file__).resolve().parents[2] / "chalicelib"
CID = "1101700230708"
COMPANY_TAX_ID = "0105537000015"  # a juristic person's 13-digit number starts with 0


def _phase(**changes: Any) -> dict[str, Any]:
    body = {
        "name": "Phase 3", "kind": "wallet", "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16",
        "exclusion_lists": ["welfare_card"], "registration_opens_at": "2025-03-01T00:00:00Z",
        "registration_closes_at": "2025-03-31T00:00:00Z", "amount_satang": 1_000_000,
        "waves": [{"activate_at": "2025-04-01T02:00:00Z"}], "expires_after_days": 180,
        "spending_scope": "district", "allowed_size_classes": ["small"], "restricted_categories": ["lottery"],
        "budget_satang": 2_700_000_000_000, "payout_bank_code": None,
    }
    return {**body, **changes}


def _field_of(spec: Any, body: Any) -> str | None:
    try:
        spec.parse(body, "")
    except InvalidRequestError as exc:
        return exc.field
    return None


# -- defined once -----------------------------------------------------------------

def _sources() -> list[tuple[pathlib.Path, str]]:
    return [(p, p.read_text()) for p in sorted(CHALICELIB.rglob("*.py")) if p.name != "limits.py"]


@pytest.mark.parametrize("name", sorted(n for n in limits.__all__ if n.endswith("_PATTERN")))
def test_no_pattern_is_written_again_outside_limits(name: str) -> None:
    pattern = getattr(limits, name)
    assert [str(p) for p, text in _sources() if pattern in text] == []


@pytest.mark.parametrize("literal", ['"002"', '"004"', "1_000_000_000", "10**15", "[1-9][0-9]{3}"])
def test_no_bank_code_list_amount_bound_or_district_pattern_outside_limits(literal: str) -> None:
    assert [str(p) for p, text in _sources() if literal in text] == []


def test_the_one_bank_code_list_holds_the_banks_api_md_names() -> None:
    assert {"002", "004", "006", "011", "014", "025", "030", "034"} <= limits.BANK_CODES
    assert all(len(code) == 3 and code.isdigit() for code in limits.BANK_CODES)
    assert BankCode().schema()["enum"] == sorted(limits.BANK_CODES)
    for code in sorted(limits.BANK_CODES):
        assert BankCode().parse(code, "bank_code") == code
    # Every body that takes a bank code takes exactly this list.
    merchant = MERCHANT_REGISTRATION_BODY.schema()["properties"]["bank"]["properties"]["bank_code"]
    payout = PHASE_BODY.schema()["properties"]["payout_bank_code"]
    assert merchant["enum"] == payout["enum"] == sorted(limits.BANK_CODES)


# -- amounts: two bounds, two meanings ------------------------------------------

def test_a_request_amount_is_bounded_by_api_md_and_a_transfer_by_the_ledger() -> None:
    assert limits.REQUEST_AMOUNT_SATANG_MAX == 10_000_000 * 100  # 10 million baht
    assert Money().parse(limits.REQUEST_AMOUNT_SATANG_MAX, "amount_satang") == limits.REQUEST_AMOUNT_SATANG_MAX
    with pytest.raises(InvalidRequestError):
        Money().parse(limits.REQUEST_AMOUNT_SATANG_MAX + 1, "amount_satang")
    # A phase's budget is funded in one transfer: 2.7e12 satang for phase 3.
    Transfer("fund", accounts.BUDGET_ACCOUNT, accounts.treasury_shard("p3", 0), 2_700_000_000_000, "funding").check()
    Transfer("max", accounts.BUDGET_ACCOUNT, "treasury:p3:000", limits.TRANSFER_AMOUNT_SATANG_MAX, "funding").check()
    with pytest.raises(ValueError):
        Transfer("over", accounts.BUDGET_ACCOUNT, "treasury:p3:000", limits.TRANSFER_AMOUNT_SATANG_MAX + 1,
                 "funding").check()
    assert limits.PHASE_BUDGET_SATANG_MAX <= limits.TRANSFER_AMOUNT_SATANG_MAX


def test_a_phase_amount_is_a_request_amount_and_its_budget_a_transfer() -> None:
    assert _field_of(PHASE_BODY, _phase(amount_satang=limits.REQUEST_AMOUNT_SATANG_MAX + 1)) == "amount_satang"
    assert _field_of(PHASE_BODY, _phase(budget_satang=limits.PHASE_BUDGET_SATANG_MAX)) is None
    assert _field_of(PHASE_BODY, _phase(budget_satang=limits.PHASE_BUDGET_SATANG_MAX + 1)) == "budget_satang"


# -- waves -----------------------------------------------------------------------

def test_the_wave_an_operator_may_activate_is_bounded_as_a_phase_s_waves() -> None:
    waves = [{"activate_at": f"2025-04-01T02:{m // 60:02d}:{m % 60:02d}Z"} for m in range(limits.PHASE_WAVES_MAX)]
    assert _field_of(PHASE_BODY, _phase(waves=waves)) is None
    assert _field_of(PHASE_BODY, _phase(waves=waves + waves[:1])) == "waves"
    assert ACTIVATE_BODY.parse({"wave": limits.PHASE_WAVES_MAX}, "") == {"wave": limits.PHASE_WAVES_MAX}
    assert _field_of(ACTIVATE_BODY, {"wave": limits.PHASE_WAVES_MAX + 1}) == "wave"


# -- exclusion-list names ----------------------------------------------------------

@pytest.mark.parametrize("name", ["welfare_card", "prisoners", "income_over_cap", "welfare-card", "Welfare_Card",
                                  "9lives", "_x", "", "a" * 64, "a" * 65])
def test_a_phase_names_exactly_the_lists_an_import_fills(name: str) -> None:
    """A phase that took a name the import refuses would exclude nobody."""
    phase_ok = _field_of(PHASE_BODY, _phase(exclusion_lists=[name])) is None
    import_ok = _field_of(EXCLUSIONS_BODY, {"list": name, "cids": [CID]}) is None
    assert phase_ok == import_ok
    assert phase_ok == (name in ("welfare_card", "prisoners", "income_over_cap", "a" * 64))


def test_a_phase_with_a_hyphenated_list_name_is_refused_naming_the_entry() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_definition(_phase(exclusion_lists=["prisoners", "welfare-card"]))
    assert caught.value.field == "exclusion_lists[1]"
    assert "welfare_card" in caught.value.message  # the message shows the form to use


# -- phase ids, districts ------------------------------------------------------------

@pytest.mark.parametrize("phase_id, ok", [("p3", True), ("phase-3_2025", True), ("-p3", False), ("_p3", False),
                                          ("p 3", False), ("p" * 64, True), ("p" * 65, False)])
def test_one_phase_id_for_defining_and_registering(phase_id: str, ok: bool) -> None:
    assert (_field_of(REGISTRATION_BODY, {"phase_id": phase_id, "consent": True}) is None) == ok
    body = {"phase_id": phase_id, "cid": CID, "birth_date": "2006-05-01", "district": "1001", "consent": True,
            "pin": "482915"}
    assert (_field_of(ASSISTED_REGISTRATION_BODY, body) is None) == ok


@pytest.mark.parametrize("district, ok", [("1001", True), ("9001", True), ("9999", False), ("1099", False),
                                          ("0101", False), ("101", False),
                                          ("10011", False), ("๑๐๐๑", False)])
def test_one_district_code_for_every_request(district: str, ok: bool) -> None:
    assisted = {"phase_id": "p3", "cid": CID, "birth_date": "2006-05-01", "district": district, "consent": True,
                "pin": "482915"}
    assert (_field_of(ASSISTED_REGISTRATION_BODY, assisted) is None) == ok
    shop = {"name": "Som Tam", "tax_id": COMPANY_TAX_ID, "business_type": "food_stall", "size_class": "small",
            "district": district, "location": {"lat": 13.75, "lon": 100.5},
            "bank": {"bank_code": "004", "account_no": "1234567890"}}
    assert (_field_of(MERCHANT_REGISTRATION_BODY, shop) is None) == ok
    switch = {"operation": "payments", "state": "paused", "scope": f"district:{district}", "reason": "incident"}
    assert (_field_of(SWITCH_BODY, switch) is None) == ok


# -- tax IDs ---------------------------------------------------------------------------

def test_a_company_tax_id_is_a_tax_id_wherever_one_is_taken() -> None:
    """The reference data and a shop's registration take the same tax IDs
    (the reference body's spec once took only personal IDs)."""
    entry = {"tax_id": COMPANY_TAX_ID, "size_class": "small", "tax_compliant": True}
    assert _field_of(MERCHANT_REFERENCE_BODY, {"merchants": [entry]}) is None
    assert _field_of(MERCHANT_REFERENCE_BODY, {"merchants": [{**entry, "tax_id": CID}]}) is None
    wrong = COMPANY_TAX_ID[:-1] + "6"
    assert _field_of(MERCHANT_REFERENCE_BODY, {"merchants": [{**entry, "tax_id": wrong}]}) == "merchants[0].tax_id"


# -- counterparty: one meaning in both lists ---------------------------------------

def _record(kind: str, debit: str, credit: str, **details: Any) -> TransferRecord:
    return TransferRecord("t1", kind, debit, credit, 15_000, "posted", "2025-04-10T10:00:00.000000Z",
                          details=details)


def test_counterparty_is_the_other_shop_s_id_with_its_name_beside_it() -> None:
    paid = _record("payment", accounts.wallet_account("w_1"), accounts.merchant_spendable("m_a"),
                   merchant_name="Som Tam", payment_id="t1")
    assert transaction_item(paid, "out") | {"created_at": None} == {
        "transfer_id": "t1", "type": "payment", "amount_satang": 15_000, "direction": "out",
        "counterparty": "m_a", "counterparty_name": "Som Tam", "created_at": None}
    between = _record("merchant_payment", accounts.merchant_spendable("m_a"), accounts.merchant_withdrawable("m_b"),
                      merchant_name="Big Wholesale", payer_name="Som Tam")
    assert (transaction_item(between, "out")["counterparty"], transaction_item(between, "out")["counterparty_name"]) \
        == ("m_b", "Big Wholesale")
    assert (transaction_item(between, "in")["counterparty"], transaction_item(between, "in")["counterparty_name"]) \
        == ("m_a", "Som Tam")


def test_a_shop_never_sees_who_the_citizen_was() -> None:
    for kind in ("payment", "card_payment"):
        paid = _record(kind, accounts.wallet_account("w_secret"), accounts.merchant_spendable("m_a"),
                       merchant_name="Som Tam")
        item = transaction_item(paid, "in")
        assert "counterparty" not in item and "counterparty_name" not in item
        assert "w_secret" not in repr(item)


def test_the_program_s_own_accounts_are_no_counterparty() -> None:
    credit = _record("issuance", accounts.treasury_shard("p3", 1), accounts.wallet_account("w_1"))
    assert "counterparty" not in transaction_item(credit, "in")
