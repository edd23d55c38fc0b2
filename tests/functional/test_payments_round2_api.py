"""Round 2 over HTTP: a shop pays another shop by QR, any size and place,
spendable first, then withdrawable; the payee's withdrawable grows."""
from __future__ import annotations

from chalicelib.ledger import Ledger, Transfer, accounts
from chalicelib.switches import set_switch
from tests.functional.payments_api_fixtures import balance, balanced


def _mpay(world, payer, qr, key="r2-1", **extra):
    return world.api.call("POST", "/v1/merchant-payments", payer, {"qr": qr, "category": "groceries", **extra},
                          key=key)


def test_a_shop_pays_a_wholesaler_spendable_first_then_withdrawable(world):
    a, b = world.merchant_id(world.shop_a), world.merchant_id(world.shop_b)
    assert world.pay(world.qr(world.shop_a, 30_000)).status == 201  # A: 300 baht spendable from a citizen
    Ledger().post(Transfer("seed-w", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable(a), 20_000,
                           "test_funding"))
    qr_b = world.qr(world.shop_b, 45_000)  # large and in another province: fine in round 2
    paid = _mpay(world, world.shop_a, qr_b)
    assert paid.status == 201, paid
    assert paid.body["merchant_id"] == b and paid.body["merchant_name"] == "Big Wholesale"
    assert paid.body["amount_satang"] == 45_000 and paid.body["balance_satang"] == 5_000
    assert balance(accounts.merchant_spendable(a)) == 0
    assert balance(accounts.merchant_withdrawable(a)) == 5_000
    assert balance(accounts.merchant_withdrawable(b)) == 45_000
    again = _mpay(world, world.shop_a, qr_b)
    assert again.status == 201 and again.body == paid.body and again.headers["idempotent-replayed"] == "true"
    assert balance(accounts.merchant_withdrawable(b)) == 45_000
    me_b = world.api.call("GET", "/v1/merchants/me", world.shop_b).body
    assert me_b["withdrawable_satang"] == 45_000 and me_b["cash_out_eligible"] is True
    listed = world.api.call("GET", "/v1/merchants/me/transactions", world.shop_a).body["items"]
    assert [(i["type"], i["direction"]) for i in listed][:1] == [("merchant_payment", "out")]
    assert all(i["type"] != "merchant_funding" for i in listed)
    assert (listed[0]["counterparty"], listed[0]["counterparty_name"]) == (b, "Big Wholesale")
    assert balanced()


def test_round2_codes(world):
    a = world.merchant_id(world.shop_a)
    Ledger().post(Transfer("seed-s", accounts.BUDGET_ACCOUNT, accounts.merchant_spendable(a), 10_000, "test_funding"))
    itself = _mpay(world, world.shop_a, world.qr(world.shop_a, 100), key="self")
    assert (itself.status, itself.body["error"]["details"]["field"]) == (400, "qr")
    alcohol = _mpay(world, world.shop_a, world.qr(world.shop_b, 100), key="alc", category="alcohol")
    assert (alcohol.status, alcohol.code) == (422, "category_restricted")
    short = _mpay(world, world.shop_a, world.qr(world.shop_b, 10_001), key="short")
    assert (short.status, short.code) == (422, "insufficient_funds")
    pending = _mpay(world, world.shop_c, world.qr(world.shop_b, 100), key="pend")
    assert (pending.status, pending.code) == (422, "merchant_not_eligible")
    qr = world.qr(world.shop_b, 100)
    assert _mpay(world, world.shop_a, qr, key="once").status == 201
    used = _mpay(world, world.shop_a, qr, key="twice")
    assert (used.status, used.code) == (422, "qr_already_used")
    set_switch("payments", "paused", "all", "incident")
    paused = _mpay(world, world.shop_a, world.qr(world.shop_b, 100), key="paused")
    assert (paused.status, paused.code) == (503, "paused")
    set_switch("payments", "on", "all", "resolved")
    citizen = world.api.call("POST", "/v1/merchant-payments", world.citizen,
                             {"qr": world.qr(world.shop_b, 100), "category": "groceries"}, key="c")
    assert citizen.status == 403
    assert balance(accounts.merchant_spendable(a)) == 9_900
    assert balanced()


def test_a_district_pause_stops_round2_payments_into_it(world):
    """Finding 6: pausing the payee's district did not stop shops elsewhere paying into it."""
    a = world.merchant_id(world.shop_a)
    Ledger().post(Transfer("seed-p", accounts.BUDGET_ACCOUNT, accounts.merchant_spendable(a), 10_000, "test_funding"))
    set_switch("payments", "paused", "district:5001", "flood")  # shop B's district; A is in 1001
    into = _mpay(world, world.shop_a, world.qr(world.shop_b, 100), key="into-paused")
    assert (into.status, into.code) == (503, "paused") and into.headers["retry-after"]
    assert balance(accounts.merchant_spendable(a)) == 10_000
    set_switch("payments", "on", "district:5001", "over")
    assert _mpay(world, world.shop_a, world.qr(world.shop_b, 100), key="into-open").status == 201
    assert balanced()
