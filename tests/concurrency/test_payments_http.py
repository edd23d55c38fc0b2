"""Payments under concurrency, through the HTTP API of the local stack on
DynamoDB Local (moto loses money under concurrent transactions).

What a user would check: a wallet never goes below zero however many
payments race; a QR pays once however many people scan it; a retried
request moves money once; the ledger balances afterwards.
"""
from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from chalicelib import pii
from chalicelib.clock import iso, utcnow
from chalicelib.ledger import Ledger, accounts, audit_ledger
from chalicelib.merchants.service import get_merchant, merchant_id_of, register_merchant, upsert_reference
from chalicelib.merchants.validation import ReferenceEntry, parse_registration
from chalicelib.payments.service import make_qr
from chalicelib.registration.models import BenefitModel
from tests.functional.payments_fixtures import PHASE, TEN_THOUSAND_BAHT, credit_wallet
from tests.invariants import drained_summary

HTTP_TIMEOUT_S = 60
# A client retries a 429 (the ledger busy past its own retries) with the
# same Idempotency-Key, as API.md tells clients to: harmless by design.
CLIENT_RETRIES_MAX = 5
FOUR_HUNDRED_BAHT = 40_000


def valid_id(n: int) -> str:
    from stdnum.th import pin

    body = f"3{n:011d}"
    return body + pin.calc_check_digit(body)


def make_shop(n: int) -> str:
    owner, tax_id = valid_id(900_000 + n), valid_id(800_000 + n)
    upsert_reference([ReferenceEntry(tax_id, "small", True)])
    register_merchant(owner, parse_registration({
        "name": f"Shop {n}", "tax_id": tax_id, "business_type": "grocery", "size_class": "small",
        "district": "1001", "location": {"lat": 13.75, "lon": 100.5},
        "bank": {"bank_code": "004", "account_no": "1234567890"}}))
    return merchant_id_of(owner)


def make_citizen(n: int, mint_token: Any, amount_satang: int = TEN_THOUSAND_BAHT) -> tuple[str, str]:
    """(token, wallet id) of a citizen whose wallet holds ``amount_satang``."""
    cid = valid_id(n)
    wallet_id = f"w{n}-{uuid.uuid4().hex[:6]}"
    credit_wallet(Ledger(), wallet_id, amount_satang)
    BenefitModel(pii.hash_id(cid), phase_id=PHASE, registration_id=f"r{n}", wallet_id=wallet_id, district="1001",
                 created_at=iso(utcnow())).save()
    return mint_token("citizen", cid=cid, district="1001", birth_date="2006-01-01", nationality="TH"), wallet_id


def qr(merchant_id: str, amount: int = FOUR_HUNDRED_BAHT) -> str:
    return make_qr(get_merchant(merchant_id), amount)["qr"]


def pay(url: str, token: str, key: str, payload: str) -> requests.Response:
    for _ in range(CLIENT_RETRIES_MAX):
        response = requests.post(f"{url}/v1/payments", json={"qr": payload, "category": "groceries"},
                                 headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                                 timeout=HTTP_TIMEOUT_S)
        if response.status_code != 429:
            return response
    return response


def outcome(response: requests.Response) -> str:
    if response.status_code == 201:
        return "replayed" if response.headers.get("Idempotent-Replayed") == "true" else "paid"
    return response.json()["error"]["code"]


def assert_balanced() -> None:
    report = audit_ledger()
    assert report.ok, report
    assert drained_summary()["balanced"] is True


@pytest.mark.timeout(600)
def test_fifty_payments_of_400_baht_from_one_10000_baht_wallet(local_api, mint_token):
    shop = make_shop(1)
    token, wallet_id = make_citizen(1, mint_token)
    codes = [qr(shop) for _ in range(50)]
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda i: pay(local_api, token, f"k{i}", codes[i]), range(50)))
    counts = Counter(outcome(r) for r in results)
    assert counts == {"paid": 25, "insufficient_funds": 25}, counts
    ledger = Ledger()
    assert ledger.balance(accounts.wallet_account(wallet_id)) == 0
    assert ledger.balance(accounts.merchant_spendable(shop)) == TEN_THOUSAND_BAHT
    assert_balanced()


@pytest.mark.timeout(600)
def test_one_qr_scanned_by_ten_citizens_at_once_pays_once(local_api, mint_token):
    shop = make_shop(2)
    citizens = [make_citizen(100 + i, mint_token) for i in range(10)]
    payload = qr(shop)
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda i: pay(local_api, citizens[i][0], f"scan{i}", payload), range(10)))
    counts = Counter(outcome(r) for r in results)
    assert counts == {"paid": 1, "qr_already_used": 9}, counts
    ledger = Ledger()
    assert ledger.balance(accounts.merchant_spendable(shop)) == FOUR_HUNDRED_BAHT
    wallets_satang = sum(ledger.balance(accounts.wallet_account(w)) for _, w in citizens)
    assert wallets_satang == 10 * TEN_THOUSAND_BAHT - FOUR_HUNDRED_BAHT
    assert_balanced()


@pytest.mark.timeout(600)
def test_parallel_replays_of_one_key_move_money_once(local_api, mint_token):
    shop = make_shop(3)
    token, wallet_id = make_citizen(200, mint_token)
    payload = qr(shop)
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: pay(local_api, token, "same-key", payload), range(10)))
    counts = Counter(outcome(r) for r in results)
    assert counts == {"paid": 1, "replayed": 9}, counts
    bodies = {r.text for r in results}
    assert len({tuple(sorted(r.json().items())) for r in results}) == 1, bodies
    ledger = Ledger()
    assert ledger.balance(accounts.wallet_account(wallet_id)) == TEN_THOUSAND_BAHT - FOUR_HUNDRED_BAHT
    assert ledger.balance(accounts.merchant_spendable(shop)) == FOUR_HUNDRED_BAHT
    assert_balanced()
