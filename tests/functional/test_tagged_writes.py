"""Which condition of a multi-item write failed is told right, whatever the
order of the items and whatever a caller's keys are (moto in-process): the
tagged transaction itself, the ledger's roles, registration and merchants."""
from __future__ import annotations

import itertools
from typing import Any

import pytest
from pynamodb.models import Model

from chalicelib import db
from chalicelib.ledger import (
    AccountModel,
    BatchCredit,
    ConditionFailedError,
    ExtraWrite,
    Ledger,
    Transfer,
    TransferMismatchError,
    accounts,
    audit_ledger,
)
from chalicelib.registration import service as registration_service
from chalicelib.registration.cards import card_key
from chalicelib.registration.models import BenefitModel, CardModel, RegistrationModel
from tests.functional.registration_fixtures import (
    Api,
    phase_body,
    valid_cid,
)

CID = valid_cid(21)


# -- the helper ------------------------------------------------------------------------

def _items() -> dict[str, tuple[str, Model, Any, Any]]:
    """Four items on two tables; ``taken:*`` fail their conditions."""
    AccountModel("wallet:taken-put", balance_satang=1).save()
    AccountModel("wallet:taken-update", balance_satang=7).save()
    AccountModel("wallet:free-update", balance_satang=3).save()
    return {
        "taken:put": ("put", AccountModel("wallet:taken-put", balance_satang=5),
                      AccountModel.account_id.does_not_exist(), None),
        "taken:update": ("update", AccountModel("wallet:taken-update"), AccountModel.balance_satang >= 100,
                         [AccountModel.balance_satang.add(-100)]),
        "free:put": ("put", AccountModel("wallet:free-put", balance_satang=5),
                     AccountModel.account_id.does_not_exist(), None),
        "free:update": ("update", AccountModel("wallet:free-update"), AccountModel.balance_satang >= 1,
                        [AccountModel.balance_satang.add(-1)]),
    }


def test_the_failed_items_are_named_right_in_every_order_of_puts_and_updates(moto_aws):
    # PynamoDB's TransactWrite sends puts before updates whatever the order
    # of the calls: a mapping by the order of the calls was wrong there.
    items = _items()
    for order in itertools.permutations(items):
        tx = db.Transaction("test")
        for tag in order:
            kind, model, condition, actions = items[tag]
            if kind == "put":
                tx.put_model(tag, model, condition)
            else:
                tx.update_model(tag, model, actions, condition)
        with pytest.raises(db.ConditionsFailedError) as caught:
            tx.commit()
        assert set(caught.value.failed) == {"taken:put", "taken:update"}, order
        assert list(caught.value.failed) == [t for t in order if t.startswith("taken")]  # in the order sent
        assert caught.value.item("taken:update")["balance_satang"] == 7
        assert caught.value.keys("taken") == {"put": caught.value.failed["taken:put"],
                                              "update": caught.value.failed["taken:update"]}
    # Nothing of any attempt was written.
    assert int(AccountModel.get("wallet:free-update").balance_satang) == 3
    assert AccountModel.count("wallet:free-put") == 0


def test_tags_are_role_prefixed_and_unique_and_the_item_limit_holds(moto_aws):
    tx = db.Transaction("test", item_limit=3)
    for bad in ("", "Record:x", ":x", "9:x", "record x"):
        with pytest.raises(ValueError):
            tx.put_model(bad, AccountModel("wallet:a"))
    tx.put_model("record:a:b:c", AccountModel("wallet:a"))  # a key may hold colons
    with pytest.raises(ValueError):
        tx.put_model("record:a:b:c", AccountModel("wallet:b"))
    tx.put_model("balance:x", AccountModel("wallet:b"))
    tx.put_model("extra", AccountModel("wallet:c"))
    with pytest.raises(ValueError):
        tx.put_model("extra:2", AccountModel("wallet:d"))
    assert tx.tags == ["record:a:b:c", "balance:x", "extra"]


# -- the ledger's roles ----------------------------------------------------------------

@pytest.fixture
def ledger(moto_aws):
    ledger = Ledger()
    shard = accounts.treasury_shard("p", 0)
    ledger.post_batch([accounts.BUDGET_ACCOUNT], [BatchCredit("fund", shard, 100_000)], "funding")
    ledger.post_batch([shard], [BatchCredit("iss:w1", accounts.wallet_account("w1"), 50_000,
                                            credit_sets={"status": "active"})], "issuance")
    return ledger


def test_a_credit_whose_id_is_a_role_name_is_read_as_that_credit(ledger):
    shards = [accounts.treasury_shard("p", 0)]
    credits = [BatchCredit(tid, accounts.wallet_account(f"w-{i}"), 100)
               for i, tid in enumerate(["source", "transfer", "debit", "balance:treasury:p:000", "credit:x"])]
    ledger.post_batch(shards, credits[:2], "issuance")
    result = ledger.post_batch(shards, credits, "issuance")
    assert sorted(r.transfer_id for r in result.existing) == ["source", "transfer"]
    assert len(result.created) == 3 and not result.unfunded
    assert audit_ledger().ok


def test_an_extra_write_tagged_like_a_ledger_role_is_still_the_callers(ledger):
    marker = ExtraWrite("transfer", AccountModel("wallet:none-such"), AccountModel.account_id.exists())
    pay = Transfer("pay1", accounts.wallet_account("w1"), accounts.merchant_spendable("m1"), 100, "payment")
    with pytest.raises(ConditionFailedError) as caught:
        ledger.post(pay, extra=[marker])
    assert caught.value.tag == "transfer"
    with pytest.raises(ValueError):
        ledger.post(pay, extra=[ExtraWrite("debit", AccountModel("wallet:x"))])
    assert ledger.get_transfer("pay1") is None and ledger.balance(accounts.wallet_account("w1")) == 50_000


def test_a_replay_is_told_from_its_record_even_when_every_other_condition_fails_too(ledger):
    pay = Transfer("pay1", accounts.wallet_account("w1"), accounts.merchant_spendable("m1"), 50_000, "payment")
    first = ledger.post(pay)
    # The wallet is empty now and the extra item's condition fails as well.
    marker = ExtraWrite("qr", AccountModel("wallet:none-such"), AccountModel.account_id.exists())
    again = ledger.post(pay, extra=[marker], debit_condition=AccountModel.status == "expired")
    assert not again.created and again.record == first.record
    with pytest.raises(TransferMismatchError):
        ledger.post(Transfer("pay1", accounts.wallet_account("w1"), accounts.merchant_spendable("m2"), 50_000,
                             "payment"))
    assert audit_ledger().ok


def test_every_posting_keeps_to_the_item_limit(ledger):
    many = [ExtraWrite(f"x{i}", AccountModel(f"wallet:x{i}")) for i in range(ledger.item_limit)]
    pay = Transfer("pay-big", accounts.wallet_account("w1"), accounts.merchant_spendable("m1"), 1, "payment")
    with pytest.raises(ValueError, match="items in one transaction"):
        ledger.post(pay, extra=many)
    with pytest.raises(ValueError, match="items in one transaction"):
        ledger.post_linked(pay, [], extra=many)
    assert ledger.get_transfer("pay-big") is None and AccountModel.count("wallet:x0") == 0


# -- registration and merchants ----------------------------------------------------------

@pytest.fixture
def phases(api: Api) -> Api:
    api.put_phase("p3", phase_body())
    api.put_phase("p4", phase_body())
    return api


def assisted(api: Api, cid: str = CID) -> Any:
    body = {"phase_id": "p3", "cid": cid, "birth_date": "2006-05-01", "district": "1001",
            "consent": True, "pin": "482915"}
    return api.call("POST", "/v1/assisted-registrations", api.registrar(), body)


def test_a_benefit_taken_by_a_racing_phase_stores_the_registration_rejected(phases, monkeypatch):
    assert phases.register(CID, phase_id="p4").body["status"] == "accepted"
    # The decision's read missed the other phase's benefit (a race): the
    # transaction's benefit condition is what fails.
    monkeypatch.setattr(registration_service, "_benefit_phase", lambda citizen_hash: None)
    reply = phases.register(CID, phase_id="p3")
    assert reply.status == 201
    assert (reply.body["status"], reply.body["reason"]) == ("rejected", "already_benefited")
    assert BenefitModel.count() == 1


def test_a_registration_written_by_a_racing_request_is_returned_not_taken_for_the_benefit(phases, monkeypatch):
    first = phases.register(CID)
    real = registration_service.get_registration
    reads = iter([None])  # the first read misses the racing request's write
    monkeypatch.setattr(registration_service, "get_registration",
                        lambda phase_id, citizen_hash: next(reads, None) or real(phase_id, citizen_hash))
    again = phases.register(CID)
    # Both the registration's and the benefit's conditions failed: it is
    # the same registration, not a benefit taken elsewhere.
    assert again.status == 200 and again.body == first.body
    assert RegistrationModel.count() == 1


def _codes(monkeypatch: pytest.MonkeyPatch, *first: str) -> None:
    real = registration_service.new_card_code
    drawn = iter(first)
    monkeypatch.setattr(registration_service, "new_card_code", lambda: next(drawn, None) or real())


def test_a_drawn_card_code_that_is_taken_is_drawn_again(phases, monkeypatch):
    taken = assisted(phases, valid_cid(22)).body["card_code"]
    _codes(monkeypatch, taken)
    reply = assisted(phases)
    assert reply.status == 201 and reply.body["card_code"] not in (None, taken)
    assert CardModel.count() == 2


def reissue(api: Api, cid: str = CID) -> Any:
    body = {"cid": cid, "birth_date": "2006-05-01", "district": "1001", "pin": "482915"}
    return api.call("POST", "/v1/cards/reissue", api.registrar(), body)


def test_a_reissued_card_draws_again_on_a_taken_code(phases, monkeypatch):
    taken = assisted(phases, valid_cid(22)).body["card_code"]
    phases.register(CID)
    _codes(monkeypatch, taken)
    reply = reissue(phases)
    assert reply.status == 201 and reply.body["card_code"] not in (None, taken)
    assert CardModel.count() == 2


def test_a_reissue_racing_another_leaves_one_card_in_use(phases, monkeypatch):
    phases.register(CID)
    stale = next(iter(RegistrationModel.scan()))  # no card yet
    other = reissue(phases).body["card_code"]  # the other submission, done first
    reads = iter([stale])  # ours read the registration before that card was set
    real = registration_service.get_registration
    monkeypatch.setattr(registration_service, "get_registration",
                        lambda phase_id, citizen_hash: next(reads, None) or real(phase_id, citizen_hash))
    ours = reissue(phases)
    assert ours.status == 201 and ours.body["card_code"] != other
    # Ours read again and went on top: the other card is revoked, one is in use.
    assert sorted(bool(c.revoked) for c in CardModel.scan()) == [False, True]
    assert next(iter(RegistrationModel.scan())).card_key == card_key(ours.body["card_code"])
