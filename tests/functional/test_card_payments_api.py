"""Card payments over HTTP: the shop enters the card code, the citizen types
the PIN; five wrong PINs lock the card; then the round 1 rules."""
from __future__ import annotations

from chalicelib.ledger import accounts
from chalicelib.switches import set_switch
from devstack import tokens
from tests.functional.payments_api_fixtures import (
    PIN,
    balance,
    balanced,
    shop_body,
    valid_id,
)


def _card(world, shop=None, key="c1", **changes):
    body = {"card_code": world.card_code, "pin": PIN, "amount_satang": 40_000, "category": "groceries", **changes}
    return world.api.call("POST", "/v1/card-payments", shop or world.shop_a, body, key=key)


def test_a_card_pays_and_a_replay_answers_the_same(world):
    paid = _card(world)
    assert paid.status == 201, paid
    assert paid.body["balance_satang"] == 960_000 and paid.body["merchant_name"] == "Som Tam Shop"
    again = _card(world)
    assert again.body == paid.body and again.headers["idempotent-replayed"] == "true"
    lower = _card(world, card_code=world.card_code.lower().replace("-", ""), key="c2", amount_satang=100)
    assert lower.status == 201  # the code as typed, any case, without dashes
    assert balance(accounts.wallet_account("w1")) == 959_900
    assert balance(accounts.merchant_spendable(world.merchant_id(world.shop_a))) == 40_100
    assert balanced()


def test_five_wrong_pins_lock_the_card_until_a_registrar_unlocks_it(world):
    codes = [_card(world, key=f"wrong{i}", pin="111222").code for i in range(5)]
    assert codes == ["pin_invalid"] * 4 + ["card_locked"]
    locked = _card(world, key="right-pin")
    assert (locked.status, locked.code) == (422, "card_locked")
    assert balance(accounts.wallet_account("w1")) == 1_000_000


def test_round1_rules_apply_to_cards(world):
    assert _card(world, shop=world.shop_b, key="large").code == "merchant_not_eligible"
    assert _card(world, shop=world.shop_c, key="pending").code == "merchant_not_eligible"
    far = tokens.mint("merchant", {"cid": valid_id(200)})
    assert world.api.call("POST", "/v1/merchants", far, shop_body(valid_id(20, "0"), district="5001")).status == 201
    approved = world.api.call("POST", f"/v1/admin/merchants/{world.merchant_id(far)}/review", world.operator,
                              {"decision": "approve", "reason": "visited"})
    assert approved.status == 200
    assert _card(world, shop=far, key="far").code == "district_mismatch"
    assert _card(world, key="alc", category="alcohol").code == "category_restricted"
    assert _card(world, key="much", amount_satang=1_000_001).code == "insufficient_funds"
    typo = _card(world, key="typo", card_code="0000-0000-0000")
    assert typo.status in (400, 404)
    missing = world.api.call("POST", "/v1/card-payments", world.shop_a,
                             {"card_code": world.card_code, "pin": PIN, "category": "groceries"}, key="noamount")
    assert (missing.status, missing.body["error"]["details"]["field"]) == (400, "amount_satang")
    nothing = _card(world, key="zero", amount_satang=0)
    assert (nothing.status, nothing.body["error"]["details"]["field"]) == (400, "amount_satang")
    set_switch("payments", "paused", "district:1001", "incident")
    assert _card(world, key="paused").code == "paused"
    set_switch("payments", "on", "district:1001", "resolved")
    assert balance(accounts.wallet_account("w1")) == 1_000_000
    assert balanced()
