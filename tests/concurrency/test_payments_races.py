"""The payment use cases under threads on DynamoDB Local, below HTTP: the
ledger's conditions, not the checks before them, keep every balance exact."""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import pii
from chalicelib.errors import WalletError
from chalicelib.ledger import Ledger, Transfer, accounts, audit_ledger
from chalicelib.payments.rules import SpendingPolicy
from chalicelib.payments.service import PaymentService
from tests.concurrency.test_payments_http import make_shop, qr, valid_id
from tests.functional.payments_fixtures import credit_wallet
from tests.invariants import drained_summary


def _outcome(call) -> str:
    try:
        return "replayed" if call().replayed else "paid"
    except WalletError as exc:
        return exc.code


@pytest.mark.timeout(300)
def test_fifty_racing_payments_never_overdraw(ddb_local):
    from chalicelib.clock import iso, utcnow
    from chalicelib.registration.models import BenefitModel

    shop = make_shop(7)
    cid = valid_id(7)
    credit_wallet(Ledger(), "w7")
    BenefitModel(pii.hash_id(cid), phase_id="phase3", registration_id="r7", wallet_id="w7", district="1001",
                 created_at=iso(utcnow())).save()
    service = PaymentService(policy_of=lambda _p: SpendingPolicy())
    codes = [qr(shop) for _ in range(50)]

    def one(i: int) -> str:
        return _outcome(lambda: service.pay_by_qr(citizen_hash=pii.hash_id(cid), citizen_district="1001",
                                                  transfer_id=f"t{i}", fingerprint="f", qr=codes[i],
                                                  amount_satang=None, category="groceries"))

    with ThreadPoolExecutor(25) as pool:
        counts = Counter(pool.map(one, range(50)))
    assert counts == {"paid": 25, "insufficient_funds": 25}, counts
    assert Ledger().balance(accounts.wallet_account("w7")) == 0
    assert audit_ledger().ok and drained_summary()["balanced"]


@pytest.mark.timeout(300)
def test_round2_racing_payments_split_and_never_overdraw(ddb_local):
    payer, payee = make_shop(8), make_shop(9)
    ledger = Ledger()
    ledger.post(Transfer("s", accounts.BUDGET_ACCOUNT, accounts.merchant_spendable(payer), 100_000, "test_funding"))
    ledger.post(Transfer("w", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable(payer), 100_000, "test_funding"))
    service = PaymentService(policy_of=lambda _p: SpendingPolicy())
    codes = [qr(payee, 30_000) for _ in range(10)]

    def one(i: int) -> str:
        return _outcome(lambda: service.pay_merchant(payer_id=payer, transfer_id=f"m{i}", fingerprint="f",
                                                     qr=codes[i], amount_satang=None, category="groceries"))

    with ThreadPoolExecutor(10) as pool:
        counts = Counter(pool.map(one, range(10)))
    assert counts["paid"] == 6 and counts["insufficient_funds"] == 4, counts
    payer_accounts = (accounts.merchant_spendable(payer), accounts.merchant_withdrawable(payer))
    payer_satang = sum(ledger.balance(a) for a in payer_accounts)
    assert payer_satang == 20_000
    assert ledger.balance(accounts.merchant_withdrawable(payee)) == 180_000
    assert audit_ledger().ok and drained_summary()["balanced"]
