"""Ledger.post_linked: a shop's payment funded from two balances in one
transaction, with a record per leg, so that the audit still replays."""
from __future__ import annotations

import pytest

from chalicelib.ledger import (
    ExtraWrite,
    InsufficientFundsError,
    Ledger,
    Transfer,
    TransferMismatchError,
    accounts,
    audit_ledger,
)
from chalicelib.ledger.exceptions import ConditionFailedError
from chalicelib.ledger.models import TransferModel
from tests.invariants import drained_summary

SPEND_A, WITH_A = accounts.merchant_spendable("a"), accounts.merchant_withdrawable("a")
WITH_B = accounts.merchant_withdrawable("b")


@pytest.fixture
def ledger(moto_aws):
    ledger = Ledger()
    # Shop a holds 300 spendable and 500 withdrawable.
    ledger.post(Transfer("f1", accounts.BUDGET_ACCOUNT, SPEND_A, 300, "test_funding"))
    ledger.post(Transfer("f2", accounts.BUDGET_ACCOUNT, WITH_A, 500, "test_funding"))
    return ledger


def _pay(amount, from_withdrawable, tid="p1"):
    main = Transfer(tid, SPEND_A, WITH_B, amount, "merchant_payment", fingerprint="fp")
    legs = [Transfer(f"{tid}.fund", WITH_A, SPEND_A, from_withdrawable, "merchant_funding")]
    return main, legs


def _balances(ledger):
    return ledger.balance(SPEND_A), ledger.balance(WITH_A), ledger.balance(WITH_B)


def test_two_debits_one_credit_in_one_transaction(ledger):
    posted = ledger.post_linked(*_pay(700, 400))
    assert posted.created and posted.record.amount_satang == 700
    assert _balances(ledger) == (0, 100, 700)
    assert audit_ledger().ok and drained_summary()["balanced"]


def test_a_replay_moves_nothing_and_a_changed_one_conflicts(ledger):
    ledger.post_linked(*_pay(700, 400))
    again = ledger.post_linked(*_pay(700, 400))
    assert again.created is False and _balances(ledger) == (0, 100, 700)
    with pytest.raises(TransferMismatchError):
        ledger.post_linked(*_pay(600, 300))
    assert audit_ledger().ok


def test_an_overdraft_of_either_leg_writes_nothing(ledger):
    with pytest.raises(InsufficientFundsError) as err:
        ledger.post_linked(*_pay(900, 600))
    assert err.value.account_id == WITH_A
    with pytest.raises(InsufficientFundsError) as err:
        ledger.post_linked(*_pay(700, 100))  # spendable would need 600 of its 300
    assert err.value.account_id == SPEND_A
    assert _balances(ledger) == (300, 500, 0)
    assert ledger.get_transfer("p1") is None and audit_ledger().ok


def test_an_extra_write_condition_is_reported_by_tag(ledger):
    marker = TransferModel("marker", kind="x", debit_account="x:1", credit_account="x:2", amount_satang=1,
                           created_at="t", history_sort="t")
    marker.save()
    extra = ExtraWrite("qr", TransferModel("marker", kind="x", debit_account="x:1", credit_account="x:2",
                                           amount_satang=1, created_at="t", history_sort="t"),
                       condition=TransferModel.transfer_id.does_not_exist())
    with pytest.raises(ConditionFailedError) as err:
        ledger.post_linked(*_pay(700, 400), extra=[extra])
    assert err.value.tag == "qr"
    assert _balances(ledger) == (300, 500, 0)
