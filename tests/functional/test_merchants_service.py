"""Merchant use cases on moto: one shop per owner and per tax ID, reference
data, review, profile with both balances, transaction list."""
from __future__ import annotations

import pytest
from stdnum.th import pin as thai_pin

from chalicelib import pii
from chalicelib.errors import AlreadyExistsError, ConflictError, NotFoundError
from chalicelib.ledger import Ledger, Transfer, accounts
from chalicelib.merchants.models import MerchantModel
from chalicelib.merchants.service import (
    merchant_of_owner,
    profile_body,
    register_merchant,
    review_merchant,
    transactions_body,
    upsert_reference,
)
from chalicelib.merchants.validation import ReferenceEntry, parse_registration


def valid_id(stem: str) -> str:
    return stem + thai_pin.calc_check_digit(stem)


OWNER, OTHER = valid_id("310170020345"), valid_id("310170020346")
TAX, TAX2 = valid_id("010553700001"), valid_id("010553700002")


def body(tax_id, size_class="small"):
    return {"name": "Som Tam Shop", "tax_id": tax_id, "business_type": "restaurant", "size_class": size_class,
            "district": "1001", "location": {"lat": 13.75, "lon": 100.5},
            "bank": {"bank_code": "004", "account_no": "1234567890"}}


def test_unknown_tax_id_waits_for_review_and_personal_data_is_not_in_clear(moto_aws):
    out = register_merchant(OWNER, parse_registration(body(TAX)))
    assert out["status"] == "pending_review"
    item = MerchantModel.get(out["merchant_id"])
    raw = str(item.attribute_values)
    assert TAX not in raw and OWNER not in raw and "1234567890" not in raw
    assert item.tax_hash == pii.hash_id(TAX, purpose="tax")
    assert pii.decrypt(item.account_no_enc, f"merchant:{out['merchant_id']}") == "1234567890"
    profile = profile_body(merchant_of_owner(OWNER))
    assert profile["status"] == "pending_review" and profile["cash_out_eligible"] is False


def test_reference_data_makes_a_shop_active_at_once_with_its_size_class(moto_aws):
    upsert_reference([ReferenceEntry(TAX, "medium", True)])
    out = register_merchant(OWNER, parse_registration(body(TAX, size_class="small")))
    assert out["status"] == "active"
    profile = profile_body(merchant_of_owner(OWNER))
    assert profile["size_class"] == "medium" and profile["cash_out_eligible"] is True


def test_one_shop_per_tax_id_and_per_owner(moto_aws):
    register_merchant(OWNER, parse_registration(body(TAX)))
    with pytest.raises(AlreadyExistsError) as err:
        register_merchant(OTHER, parse_registration(body(TAX)))
    assert err.value.details["field"] == "tax_id"
    with pytest.raises(AlreadyExistsError) as err:
        register_merchant(OWNER, parse_registration(body(TAX2)))
    assert err.value.details["field"] == "owner"


def test_review_transitions(moto_aws):
    mid = register_merchant(OWNER, parse_registration(body(TAX)))["merchant_id"]
    assert review_merchant(mid, "approve", "checked", "op1")["status"] == "active"
    assert review_merchant(mid, "approve", "again", "op1")["status"] == "active"
    with pytest.raises(ConflictError):
        review_merchant(mid, "reject", "too late", "op1")
    assert review_merchant(mid, "suspend", "fraud report", "op1")["status"] == "suspended"
    assert review_merchant(mid, "approve", "cleared", "op1")["status"] == "active"
    with pytest.raises(NotFoundError):
        review_merchant("m_nope", "approve", "x", "op1")


def test_reference_arriving_later_activates_a_pending_shop(moto_aws):
    mid = register_merchant(OWNER, parse_registration(body(TAX)))["merchant_id"]
    assert upsert_reference([ReferenceEntry(TAX, "small", False)]) == {"upserted": 1}
    assert MerchantModel.get(mid).status == "active"
    assert profile_body(merchant_of_owner(OWNER))["cash_out_eligible"] is False


def test_transactions_list_both_balances_newest_first(moto_aws):
    mid = register_merchant(OWNER, parse_registration(body(TAX)))["merchant_id"]
    ledger = Ledger()
    ledger.post(Transfer("t1", accounts.BUDGET_ACCOUNT, accounts.merchant_spendable(mid), 500, "test_funding"))
    ledger.post(Transfer("t2", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable(mid), 700, "test_funding"))
    page = transactions_body(mid, 1, None)
    assert [i["transfer_id"] for i in page["items"]] == ["t2"] and page["next_cursor"]
    rest = transactions_body(mid, 50, page["next_cursor"])
    assert [i["transfer_id"] for i in rest["items"]] == ["t1"] and rest["next_cursor"] is None
    assert rest["items"][0]["direction"] == "in" and rest["items"][0]["amount_satang"] == 500
    profile = profile_body(merchant_of_owner(OWNER))
    assert profile["spendable_satang"] == 500 and profile["withdrawable_satang"] == 700
