"""Shared set-up of the merchant and payment tests: money in wallets through
the ledger (as activation credits them), merchants, QR codes."""
from __future__ import annotations

import base64
import os
from datetime import timedelta

from chalicelib.clock import iso, utcnow
from chalicelib.ledger import BatchCredit, Ledger, accounts

PHASE = "phase3"
TEN_THOUSAND_BAHT = 1_000_000

TEST_ENV = {
    "WALLET_ID_PEPPER": "test-pepper-0123456789abcdef",
    "WALLET_DATA_KEY": base64.b64encode(b"d" * 32).decode(),
    "WALLET_QR_SIGNING_KEY": "test-qr-signing-key-0123456789abcdef",
}


def set_test_secrets(monkeypatch) -> None:
    for name, value in TEST_ENV.items():
        if not os.environ.get(name):
            monkeypatch.setenv(name, value)


def fund_treasury(ledger: Ledger, amount_satang: int, phase_id: str = PHASE) -> str:
    shard = accounts.treasury_shard(phase_id, 0)
    ledger.post_batch([accounts.BUDGET_ACCOUNT],
                      [BatchCredit(f"fund:{phase_id}:{utcnow().timestamp()}", shard, amount_satang)], "funding")
    return shard


def credit_wallet(ledger: Ledger, wallet_id: str, amount_satang: int = TEN_THOUSAND_BAHT, *,
                  status: str = "active", expires_in_days: int = 180, phase_id: str = PHASE) -> None:
    """Credit a wallet as activation does: money from the treasury, status and expiry set."""
    shard = fund_treasury(ledger, amount_satang, phase_id)
    expires_at = iso(utcnow() + timedelta(days=expires_in_days))
    result = ledger.post_batch([shard], [BatchCredit(f"credit:{wallet_id}", accounts.wallet_account(wallet_id),
                                                     amount_satang,
                                                     credit_sets={"status": status, "expires_at": expires_at})],
                               "issuance")
    if not result.created:
        raise RuntimeError("the wallet was not credited")
