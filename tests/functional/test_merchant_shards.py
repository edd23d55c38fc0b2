"""A wholesaler's balances in shards, over HTTP (moto, single-threaded): the
operator raises the count in the reference data (never lowers it), each
payment lands on the shard its key picks at the unsharded cost (4 items),
GET /v1/merchants/me sums the shards, a withdrawal and the wholesaler's own
round 2 payment draw across them in one transaction, never past what they
hold, and a replay moves nothing."""
from __future__ import annotations

import pytest

from chalicelib import db
from chalicelib.ledger import Ledger, Transfer, accounts
from chalicelib.merchants.models import MerchantModel
from chalicelib.merchants.shards import Leg, plan_draw, shard_accounts
from tests.functional.payments_api_fixtures import balance, balanced, valid_id

SHARDS = 8


def _mpay(world, payer, qr, key):
    return world.api.call("POST", "/v1/merchant-payments", payer, {"qr": qr, "category": "groceries"}, key=key)


def _withdraw(world, token, amount, key):
    return world.api.call("POST", "/v1/withdrawals", token, {"amount_satang": amount}, key=key)


def _set_shards(world, shards: int):
    reply = world.api.call("POST", "/v1/admin/merchant-reference", world.operator, {"merchants": [
        {"tax_id": valid_id(2, "0"), "size_class": "large", "tax_compliant": True, "balance_shards": shards}]})
    assert reply.status == 200, reply


@pytest.fixture
def tx_items(monkeypatch):
    """The item count of every TransactWriteItems committed."""
    seen: list[int] = []
    commit = db.Transaction.commit

    def counting(self, *args, **kwargs):
        seen.append(len(self))
        return commit(self, *args, **kwargs)

    monkeypatch.setattr(db.Transaction, "commit", counting)
    return seen


def test_a_wholesaler_in_shards_is_one_shop_to_the_api(world, tx_items):
    a, b = world.merchant_id(world.shop_a), world.merchant_id(world.shop_b)
    _set_shards(world, SHARDS)
    _set_shards(world, 2)  # lowering is ignored: shards 2..7 may hold money
    assert MerchantModel.get(b).balance_shards == SHARDS
    Ledger().post(Transfer("seed-a", accounts.BUDGET_ACCOUNT, accounts.merchant_spendable(a), 100_000,
                           "test_funding"))
    tx_items.clear()
    for i in range(24):
        assert _mpay(world, world.shop_a, world.qr(world.shop_b, 1_000), key=f"k{i}").status == 201
    # Paying a sharded shop costs what paying an ordinary one does.
    assert tx_items == [4] * 24
    shard_ids = shard_accounts(accounts.merchant_withdrawable, b, SHARDS)
    held = {s: balance(s) for s in shard_ids}
    assert sum(held.values()) == 24_000 and len([v for v in held.values() if v]) >= 4, held
    me = world.api.call("GET", "/v1/merchants/me", world.shop_b).body
    assert me["withdrawable_satang"] == 24_000 and me["spendable_satang"] == 0

    # A replay lands on the shard the first did: nothing moves.
    qr = world.qr(world.shop_b, 1_000)
    first = _mpay(world, world.shop_a, qr, key="again")
    before = {s: balance(s) for s in shard_ids}
    replay = _mpay(world, world.shop_a, qr, key="again")
    assert replay.headers["idempotent-replayed"] == "true" and replay.body == first.body
    assert {s: balance(s) for s in shard_ids} == before

    # A withdrawal larger than any one shard draws across them in one transaction.
    largest = max(before.values())
    amount = largest + 1_500
    tx_items.clear()
    wd = _withdraw(world, world.shop_b, amount, "wd-1")
    assert wd.status == 202, wd
    assert len(tx_items) == 1
    after = {s: balance(s) for s in shard_ids}
    assert sum(after.values()) == 25_000 - amount and min(after.values()) >= 0
    assert world.api.call("GET", "/v1/merchants/me", world.shop_b).body["withdrawable_satang"] == 25_000 - amount
    again = _withdraw(world, world.shop_b, amount, "wd-1")
    assert again.status == 202 and again.headers["idempotent-replayed"] == "true"
    assert {s: balance(s) for s in shard_ids} == after
    # More than the shards hold together: refused, with the sum.
    over = _withdraw(world, world.shop_b, 25_000 - amount + 1, "wd-2")
    assert over.status == 422 and over.body["error"]["details"]["reason"] == "exceeds_withdrawable"
    assert over.body["error"]["details"]["withdrawable_satang"] == 25_000 - amount
    listed = world.api.call("GET", "/v1/merchants/me/transactions", world.shop_b).body["items"]
    assert all(i["type"] != "merchant_sweep" for i in listed)
    assert {i["counterparty"] for i in listed if i["type"] == "merchant_payment"} == {a}

    # The wholesaler pays a shop with every last satang, drawn across its shards.
    rest = 25_000 - amount
    paid = _mpay(world, world.shop_b, world.qr(world.shop_a, rest), key="b-pays")
    assert paid.status == 201 and paid.body["balance_satang"] == 0, paid
    assert sum(balance(s) for s in shard_ids) == 0
    assert balance(accounts.merchant_withdrawable(a)) == rest
    assert balanced()


def test_raising_the_count_keeps_the_old_shards_counted(world):
    b = world.merchant_id(world.shop_b)
    _set_shards(world, 2)
    ledger = Ledger()
    ledger.post(Transfer("seed-1", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable(b, 1), 7_000,
                         "test_funding"))
    _set_shards(world, 4)
    ledger.post(Transfer("seed-3", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable(b, 3), 5_000,
                         "test_funding"))
    assert world.api.call("GET", "/v1/merchants/me", world.shop_b).body["withdrawable_satang"] == 12_000
    assert _withdraw(world, world.shop_b, 12_000, "all").status == 202
    assert world.api.call("GET", "/v1/merchants/me", world.shop_b).body["withdrawable_satang"] == 0
    # A reject returns the money to shard 0: still the shop's, still counted.
    assert balanced()


def test_the_shard_count_is_checked_at_the_door(world):
    reply = world.api.call("POST", "/v1/admin/merchant-reference", world.operator, {"merchants": [
        {"tax_id": valid_id(2, "0"), "size_class": "large", "tax_compliant": True, "balance_shards": 33}]})
    assert reply.status == 400 and "balance_shards" in reply.body["error"]["message"], reply


def test_an_ordinary_shop_keeps_its_ids():
    assert accounts.merchant_withdrawable("m_1") == "merchant_withdrawable:m_1"
    assert accounts.merchant_shard_of("any", 1) == 0
    assert accounts.merchant_withdrawable("m_1", 3) == "merchant_withdrawable:m_1:03"
    assert accounts.bucket_of("merchant_withdrawable:m_1:03") == accounts.bucket_of("merchant_withdrawable:m_1")
    assert accounts.history_key_of("merchant_spendable:m_1:07") == "merchant:m_1"
    assert accounts.merchant_of("merchant_spendable:m_1:07") == "m_1"
    # Deterministic and spread: the same id, the same shard; 800 ids over all 8.
    picks = [accounts.merchant_shard_of(f"t{i}", 8) for i in range(800)]
    assert picks == [accounts.merchant_shard_of(f"t{i}", 8) for i in range(800)]
    assert all(60 <= picks.count(s) <= 140 for s in range(8))


def test_the_draw_plan_takes_the_fewest_legs():
    ids = ["s0", "s1", "s2"]
    assert plan_draw({"s0": 10, "s1": 50, "s2": 30}, ids, 40) == [Leg("s1", 40)]
    assert plan_draw({"s0": 10, "s1": 50, "s2": 30}, ids, 70) == [Leg("s1", 50), Leg("s2", 20)]
    assert plan_draw({"s0": 10, "s1": 50, "s2": 30}, ids, 90) == [Leg("s1", 50), Leg("s2", 30), Leg("s0", 10)]
    assert plan_draw({"s0": 10, "s1": 50, "s2": 30}, ids, 91) is None
    assert plan_draw({"s0": 5, "s1": 5}, ids, 5) == [Leg("s0", 5)]  # shard 0 first among equals
    assert plan_draw({}, ids, 0) == []
