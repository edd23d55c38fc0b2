"""``python -m devstack audit`` against a stack's tables (DynamoDB Local):
OK on a balanced ledger, and it names the account whose balance was altered
behind the ledger's back."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest

from chalicelib import db
from chalicelib.ledger import Ledger, Transfer, accounts
from chalicelib.ledger.models import AccountModel
from devstack import audit, state
from tests.functional.payments_fixtures import credit_wallet


@pytest.fixture
def stack_file(ddb_local: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> state.StackState:
    monkeypatch.setenv("WALLET_DEVSTACK_DIR", str(tmp_path))
    running = state.StackState(api_url="http://127.0.0.1:1", stage=ddb_local.stage,
                               dynamodb_endpoint=str(ddb_local.dynamodb_endpoint), aws_endpoint="",
                               pid=os.getpid(), schedule_rate_s=1)
    state.write(running)
    return running


def _audit() -> int:
    return audit.main(argparse.Namespace(mismatches_shown_max=20))


def test_a_balanced_ledger_passes_and_an_altered_balance_is_named(stack_file: state.StackState,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    ledger = Ledger()
    for n in range(3):
        credit_wallet(ledger, f"wa{n}", 100_000)
    ledger.post(Transfer("pay-1", accounts.wallet_account("wa0"), accounts.merchant_spendable("m1"), 2_500, "payment"))
    assert _audit() == 0
    out = capsys.readouterr()
    assert "ledger audit: OK" in out.out and "transfers replayed  " in out.out
    assert f"stage {stack_file.stage}" in out.err  # it says which stack it read
    db.dynamodb_client().update_item(
        TableName=db.table_name(AccountModel), Key={"account_id": {"S": accounts.wallet_account("wa1")}},
        UpdateExpression="ADD balance_satang :x", ExpressionAttributeValues={":x": {"N": "100"}})
    assert _audit() == 1
    out = capsys.readouterr().out
    assert "MISMATCH wallet:wa1: stored 100,100, its transfers say 100,000" in out
    assert "ledger audit: FAILED" in out


def test_without_a_running_stack_it_says_how_to_start_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WALLET_DEVSTACK_DIR", str(tmp_path))
    assert _audit() == 1
    assert "make run" in capsys.readouterr().err
