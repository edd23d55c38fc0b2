"""Round 1 over HTTP (Chalice test client on moto): a citizen scans a shop's
one-time QR and pays; every rule code of API.md in the order the checks run."""
from __future__ import annotations

import time

import pytest

from chalicelib.ledger import accounts
from chalicelib.payments.service import qr_signing_key
from chalicelib.qr import crc16_ccitt_false, issue_qr
from chalicelib.switches import set_switch
from tests.functional.payments_api_fixtures import (
    balance,
    balanced,
    citizen_token,
    give_wallet,
    valid_id,
)


def test_a_sale_pays_once_and_a_replay_answers_the_same(world):
    qr = world.qr(world.shop_a, 40_000)
    first = world.pay(qr, key="sale-1")
    assert first.status == 201, first
    body = first.body
    assert body["status"] == "completed" and body["amount_satang"] == 40_000
    assert body["merchant_name"] == "Som Tam Shop" and body["balance_satang"] == 960_000
    assert body["merchant_id"] == world.merchant_id(world.shop_a)
    assert set(body) == {"payment_id", "status", "amount_satang", "merchant_id", "merchant_name",
                         "balance_satang", "created_at"}
    assert "idempotent-replayed" not in first.headers
    again = world.pay(qr, key="sale-1")
    assert again.status == 201 and again.body == body and again.headers["idempotent-replayed"] == "true"
    other = world.pay(qr, key="sale-1", amount_satang=40_000)  # same key, another body
    assert (other.status, other.code) == (409, "idempotency_conflict")
    assert balance(accounts.wallet_account("w1")) == 960_000
    me = world.api.call("GET", "/v1/merchants/me", world.shop_a).body
    assert me["spendable_satang"] == 40_000 and me["withdrawable_satang"] == 0
    listed = world.api.call("GET", "/v1/merchants/me/transactions", world.shop_a).body
    assert [(i["type"], i["direction"], i["amount_satang"]) for i in listed["items"]] == [("payment", "in", 40_000)]
    # As for the wallet, counterparty is the other shop; a citizen is none: nothing names or links them.
    assert set(listed["items"][0]) == {"transfer_id", "type", "amount_satang", "direction", "created_at"}
    assert "w1" not in str(listed)
    mine = world.api.call("GET", "/v1/wallet/transactions", world.citizen).body["items"][0]
    assert (mine["counterparty"], mine["counterparty_name"]) == (world.merchant_id(world.shop_a), "Som Tam Shop")
    assert balanced()


def test_a_wallet_payment_is_counted_into_its_phases_spent_satang_once_off_the_payment_path(world, clock):
    from datetime import timedelta

    from chalicelib.ledger import TransferModel
    from chalicelib.phases.counters import SPEND_SETTLE_S, spent_as_of, tally_spending, totals
    from tests.functional.payments_fixtures import PHASE

    paid = world.pay(world.qr(world.shop_a, 40_000), key="sale-tally").body
    record = TransferModel.get(paid["payment_id"])
    assert record.feed_key.startswith(f"{PHASE}#spent#")  # an attribute of the record, no extra item
    assert tally_spending(PHASE, clock.now()) == 0  # too fresh: a payment stamped earlier may still commit
    later = clock.advance(timedelta(seconds=SPEND_SETTLE_S + 1))
    assert tally_spending(PHASE, later) == 40_000
    assert tally_spending(PHASE, later) == 0  # counted once, however often the tally runs
    assert totals(PHASE)["spent_satang"] == 40_000
    assert spent_as_of(PHASE) is not None


def test_a_qr_without_amount_takes_the_amount_from_the_request(world):
    qr = world.qr(world.shop_a, None)
    missing = world.pay(qr)
    assert (missing.status, missing.code, missing.body["error"]["details"]["field"]) == \
        (400, "invalid_request", "amount_satang")
    assert world.pay(qr, amount_satang=12_345).body["amount_satang"] == 12_345
    mismatch = world.pay(world.qr(world.shop_a, 100), amount_satang=200)
    assert (mismatch.status, mismatch.body["error"]["details"]["field"]) == (400, "amount_satang")
    assert balance(accounts.wallet_account("w1")) == 1_000_000 - 12_345
    assert balanced()


def _tampered(qr: str) -> str:
    forged = qr.replace("540640000.00", "5406400.00")  # 400.00 -> 4.00 ... length changes: invalid either way
    if forged == qr:
        forged = qr[:-10] + ("A" if qr[-10] != "A" else "B") + qr[-9:]
    body = forged[:-4]
    return body + f"{crc16_ccitt_false(body.encode()):04X}"


def test_qr_codes_forged_expired_or_used(world):
    qr = world.qr(world.shop_a, 40_000)
    assert world.pay(_tampered(qr)).code == "qr_invalid"
    assert world.pay(qr[:-1] + ("0" if qr[-1] != "0" else "1")).code == "qr_invalid"  # wrong CRC
    assert world.pay("00020101021229370016A000000677010111011300660000000005802TH53037646304").code == "qr_invalid"
    merchant_id = world.merchant_id(world.shop_a)
    old, _ = issue_qr(merchant_id=merchant_id, merchant_name="Som Tam Shop", city="1001", key=qr_signing_key(),
                      now_s=int(time.time()) - 600, amount_satang=100)
    expired = world.pay(old)
    assert (expired.status, expired.code) == (422, "qr_expired")
    assert world.pay(qr).status == 201
    used = world.pay(qr, token=citizen_token(valid_id(7, "1")))  # same QR, another request
    assert (used.status, used.code) == (422, "qr_already_used")
    assert balanced()


def test_wallet_codes(world):
    qr = world.qr(world.shop_a, 100)
    nobody = world.pay(qr, token=citizen_token(valid_id(8, "1")))
    assert (nobody.status, nobody.code) == (422, "wallet_not_active")
    expired_cid, pending_cid = valid_id(9, "1"), valid_id(10, "1")
    give_wallet(expired_cid, "w-expired", expires_in_days=-1)
    give_wallet(pending_cid, "w-suspended", status="suspended")
    assert world.pay(qr, token=citizen_token(expired_cid)).code == "wallet_expired"
    assert world.pay(qr, token=citizen_token(pending_cid)).code == "wallet_not_active"
    assert balance(accounts.wallet_account("w-expired")) == 1_000_000
    assert balanced()


def test_merchant_scope_category_and_balance_codes(world):
    large = world.pay(world.qr(world.shop_b, 100))
    assert (large.status, large.code) == (422, "merchant_not_eligible")
    pending = world.api.call("POST", "/v1/merchants/me/qr", world.shop_c, {"amount_satang": 100})
    assert (pending.status, pending.code) == (422, "merchant_not_eligible")
    elsewhere = world.pay(world.qr(world.shop_a, 100), token=citizen_token(valid_id(7, "1"), district="1002"))
    assert (elsewhere.status, elsewhere.code) == (422, "district_mismatch")
    alcohol = world.pay(world.qr(world.shop_a, 100), category="alcohol")
    assert (alcohol.status, alcohol.code) == (422, "category_restricted")
    too_much = world.pay(world.qr(world.shop_a, None), amount_satang=1_000_001)
    assert (too_much.status, too_much.code) == (422, "insufficient_funds")
    assert balance(accounts.wallet_account("w1")) == 1_000_000
    assert balanced()


def test_paused_payments_answer_503_with_retry_after(world):
    qr = world.qr(world.shop_a, 100)
    set_switch("payments", "paused", "district:1001", "incident")
    paused = world.pay(qr)
    assert (paused.status, paused.code) == (503, "paused") and int(paused.headers["retry-after"]) > 0
    set_switch("payments", "on", "district:1001", "resolved")
    assert world.pay(qr).status == 201
    assert balanced()


def test_request_errors(world):
    qr = world.qr(world.shop_a, 100)
    no_key = world.api.call("POST", "/v1/payments", world.citizen, {"qr": qr, "category": "groceries"})
    assert (no_key.status, no_key.body["error"]["details"]["field"]) == (400, "Idempotency-Key")
    bad_key = world.api.call("POST", "/v1/payments", world.citizen, {"qr": qr, "category": "groceries"}, key="a b")
    assert bad_key.status == 400
    for body in ({"qr": qr}, {"qr": qr, "category": "groceries", "tip": 1},
                 {"qr": qr, "category": "groceries", "amount_satang": "100"},
                 {"qr": qr, "category": "groceries", "amount_satang": 1.5},
                 {"qr": qr, "category": "groceries", "amount_satang": 0}):
        reply = world.api.call("POST", "/v1/payments", world.citizen, body, key="k")
        assert (reply.status, reply.code) == (400, "invalid_request"), (body, reply)
    assert world.api.call("POST", "/v1/payments", None, {"qr": qr, "category": "x"}, key="k").status == 401
    shop = world.api.call("POST", "/v1/payments", world.shop_a, {"qr": qr, "category": "groceries"}, key="k")
    assert (shop.status, shop.code) == (403, "forbidden")
    assert balance(accounts.wallet_account("w1")) == 1_000_000


@pytest.fixture
def phase_definition(monkeypatch):
    """The phase's saved definition, as the phases package would return it."""
    from chalicelib.config import rebuild
    from chalicelib.phases import service as phases

    definition: dict = {}
    monkeypatch.setattr(phases, "get_definition", lambda phase_id: dict(definition))
    rebuild()
    yield definition
    rebuild()


def test_the_phase_definition_sets_scope_sizes_and_negative_list(world, phase_definition):
    from chalicelib.config import rebuild

    phase_definition.update({"spending_scope": "province", "allowed_size_classes": ["small", "large"],
                             "restricted_categories": ["lottery"]})
    same_province = citizen_token(valid_id(7, "1"), district="1050")
    assert world.pay(world.qr(world.shop_a, 100), token=same_province).status == 201
    assert world.pay(world.qr(world.shop_a, 100), token=citizen_token(valid_id(7, "1"), district="5001")).code \
        == "district_mismatch"
    assert world.pay(world.qr(world.shop_a, 100), category="alcohol").status == 201  # not on this phase's list
    assert world.pay(world.qr(world.shop_a, 100), category="lottery").code == "category_restricted"
    phase_definition["spending_scope"] = "nationwide"
    rebuild()
    assert world.pay(world.qr(world.shop_b, 100)).status == 201  # large, another province: allowed here
    assert balance(accounts.wallet_account("w1")) == 1_000_000 - 300
    assert balanced()


def test_a_qr_signing_key_rotation_keeps_shown_qrs_payable(world, monkeypatch):
    """Review: a key id in the QR lets the key rotate, the old one valid meanwhile."""
    import base64

    from chalicelib.config import rebuild
    from chalicelib.qr import key_id, parse_tlv

    old_qr = world.qr(world.shop_a, 100)  # shown before the rotation
    old_key = qr_signing_key()
    new_key = base64.b64encode(b"n" * 32).decode()
    monkeypatch.setenv("WALLET_QR_SIGNING_KEY", new_key)
    monkeypatch.setenv("WALLET_QR_PREVIOUS_SIGNING_KEY", old_key.decode())
    rebuild()
    new_qr = world.qr(world.shop_a, 100)
    assert parse_tlv(parse_tlv(new_qr)["80"])["04"] == key_id(new_key.encode()) != key_id(old_key)
    assert world.pay(old_qr).status == 201 and world.pay(new_qr).status == 201
    monkeypatch.delenv("WALLET_QR_PREVIOUS_SIGNING_KEY")
    rebuild()
    third = world.qr(world.shop_a, 100)
    retired, _ = issue_qr(merchant_id=world.merchant_id(world.shop_a), merchant_name="Som Tam Shop",
                          city="Phra Nakhon", key=old_key, now_s=int(time.time()), amount_satang=100)
    assert world.pay(retired).code == "qr_invalid" and world.pay(third).status == 201
    assert balanced()
