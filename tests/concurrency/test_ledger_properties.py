"""Property: whatever mix of transfers, replays and concurrent posts runs,
no balance that may not go negative does, every transfer is posted once, and
the ledger balances. Runs on DynamoDB Local: moto loses money under
concurrent transactions (ARCHITECTURE.md)."""
from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import db
from chalicelib.config import rebuild
from chalicelib.ledger import (
    BatchCredit,
    InsufficientFundsError,
    Ledger,
    PendingStateError,
    Transfer,
    TransferMismatchError,
    accounts,
    audit_ledger,
)
from tests.invariants import drained_summary

WALLETS = 4
MERCHANTS = 3
SHARDS = 2
THREADS = 8
ID_POOL = 12  # few ids, so that replays and reused ids happen often

wallet = st.integers(0, WALLETS - 1).map(lambda i: accounts.wallet_account(f"w{i}"))
merchant = st.integers(0, MERCHANTS - 1)
transfer_id = st.integers(0, ID_POOL - 1).map(lambda i: f"t{i}")
amount = st.integers(1, 4_000)

pay = st.tuples(st.just("pay"), transfer_id, wallet, merchant.map(accounts.merchant_spendable), amount)
shop_to_shop = st.tuples(st.just("pay"), transfer_id, merchant.map(accounts.merchant_spendable),
                         merchant.map(accounts.merchant_withdrawable), amount)
hold = st.tuples(st.just("hold"), transfer_id, merchant.map(accounts.merchant_withdrawable), amount)
resolve = st.tuples(st.sampled_from(["settle", "void"]), transfer_id)
issue = st.tuples(st.just("issue"), st.lists(st.tuples(transfer_id, wallet, amount), min_size=1, max_size=6))
operation = st.one_of(pay, pay, shop_to_shop, hold, resolve, issue)


def fresh_tables(monkeypatch, endpoint: str) -> None:
    monkeypatch.setenv("WALLET_DYNAMODB_ENDPOINT", endpoint)
    monkeypatch.setenv("WALLET_TRANSACTION_ITEM_LIMIT", "10")
    monkeypatch.setenv("WALLET_STAGE", f"prop{uuid.uuid4().hex[:8]}")
    rebuild()
    db.bind_models()
    db.create_tables()


def run(ledger: Ledger, shards: list[str], op: tuple) -> tuple[str, str, object]:
    """Apply one operation; returns (transfer id, outcome, record or None)."""
    name = op[0]
    try:
        if name == "pay":
            _, tid, debit, credit, value = op
            posted = ledger.post(Transfer(tid, debit, credit, value, "payment"))
        elif name == "hold":
            _, tid, debit, value = op
            posted = ledger.hold(Transfer(tid, debit, accounts.in_flight("004"), value, "withdrawal"),
                                 post_to=accounts.paid_out("004"))
        elif name in ("settle", "void"):
            tid = op[1]
            posted = getattr(ledger, name)(tid)
            tid = posted.record.transfer_id
        else:
            credits = {tid: BatchCredit(tid, w, value) for tid, w, value in op[1]}
            result = ledger.post_batch(shards, list(credits.values()), "issuance")
            return ("batch", "batch", result)
    except (InsufficientFundsError, TransferMismatchError, PendingStateError) as exc:
        return (op[1], type(exc).__name__, None)
    return (posted.record.transfer_id, "created" if posted.created else "existing", posted.record)


@pytest.mark.timeout(300)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(per_shard=st.integers(0, 20_000), operations=st.lists(operation, min_size=5, max_size=40))
def test_random_concurrent_transfers_keep_the_ledger_exact(ddb_local_endpoint, monkeypatch, per_shard, operations):
    fresh_tables(monkeypatch, ddb_local_endpoint)
    ledger = Ledger()
    shards = [accounts.treasury_shard("p", i) for i in range(SHARDS)]
    if per_shard:
        ledger.post_batch([accounts.BUDGET_ACCOUNT],
                          [BatchCredit(f"fund:{s}", s, per_shard) for s in shards], "funding")

    # Every operation twice (a client retry), all at once from several threads.
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(lambda op: run(ledger, shards, op), operations + operations))

    created = Counter()
    for tid, outcome, payload in outcomes:
        if outcome == "created":
            created[tid] += 1
        elif outcome == "batch":
            created.update(r.transfer_id for r in payload.created)
    # Posted once: no id was created by two calls...
    assert all(count == 1 for count in created.values()), created
    # ...and every stored record was created by exactly one call.
    stored = {tid for tid in created if ledger.get_transfer(tid) is not None}
    assert stored == set(created)
    for tid, outcome, _record in outcomes:
        if outcome == "existing":
            assert ledger.get_transfer(tid) is not None

    report = audit_ledger()
    assert not report.negative, report.negative
    assert not report.mismatches, report.mismatches
    assert report.total_satang == 0
    summary = drained_summary()
    assert summary["balanced"] is True
    assert summary["funded_satang"] == per_shard * SHARDS


@pytest.mark.timeout(120)
def test_fifty_concurrent_debits_of_one_wallet_never_overdraw(ddb_local_endpoint, monkeypatch):
    """50 payments of 400 baht from a 10,000-baht wallet: exactly 25 succeed."""
    fresh_tables(monkeypatch, ddb_local_endpoint)
    ledger = Ledger()
    shard = accounts.treasury_shard("p", 0)
    ledger.post_batch([accounts.BUDGET_ACCOUNT], [BatchCredit("fund", shard, 1_000_000)], "funding")
    ledger.post_batch([shard], [BatchCredit("iss:w", accounts.wallet_account("w"), 1_000_000)], "issuance")

    def one(i: int) -> str:
        try:
            ledger.post(Transfer(f"pay{i}", accounts.wallet_account("w"), accounts.merchant_spendable(f"m{i % 5}"),
                                 40_000, "payment"))
            return "ok"
        except InsufficientFundsError:
            return "insufficient"

    with ThreadPoolExecutor(50) as pool:
        results = Counter(pool.map(one, range(50)))
    assert results == Counter(ok=25, insufficient=25)
    assert ledger.balance(accounts.wallet_account("w")) == 0
    assert drained_summary()["merchants_spendable_satang"] == 1_000_000
    assert audit_ledger().ok
