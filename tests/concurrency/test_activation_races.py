"""Overlapping activation runs on DynamoDB Local with threads (moto loses
money under concurrent transactions: ARCHITECTURE.md).

What an operator would check after two planners, repeated activations and
duplicated messages all raced: every accepted citizen credited exactly
once, the treasury down by exactly the credited sum, the counters right,
the ledger balanced.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from chalicelib.activation import crediting, service
from chalicelib.activation.models import RunModel, run_key
from chalicelib.activation.progress import progress, totals
from chalicelib.activation.source import MemoryPhaseSource
from chalicelib.clock import utcnow
from chalicelib.ledger import Ledger, TransferModel, accounts, audit_ledger
from chalicelib.limits import ACTIVATION_BUCKETS
from tests.integration.test_activation_moto import AMOUNT, PHASE, FakeQueue, definition, fund, seed, treasury
from tests.invariants import drained_summary

CITIZENS = 160
THREADS = 8


@pytest.fixture
def tables(ddb_local):
    """Fresh tables on DynamoDB Local (10 items per transaction)."""
    return ddb_local


class SharedQueue(FakeQueue):
    """One queue fed by several planners and drained by several workers."""

    def __init__(self, source):
        super().__init__(source)
        self.lock = threading.Lock()

    def send(self, body):
        with self.lock:
            self.bodies.append(body)
            self.sent += 1

    def take(self):
        with self.lock:
            batch, self.bodies = self.bodies[:3], self.bodies[3:]
            return batch

    def worker(self) -> int:
        handled = 0
        while True:
            batch = self.take()
            if not batch:
                return handled
            for body in batch:
                # Each message on its own: a failure would be redelivered.
                with self.lock:
                    event = self.event([body])
                response = service.handle_sqs_event(event, handle=self.handle)
                if response["batchItemFailures"]:
                    self.send(body)
                handled += 1


def together(calls):
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_overlapping_runs_and_duplicate_messages_credit_every_citizen_exactly_once(tables, monkeypatch):
    start = utcnow() - timedelta(minutes=5)
    source = MemoryPhaseSource({PHASE: definition(start, waves=1)})
    wallets = seed(CITIZENS, waves=1, rejected=10)
    funded = (CITIZENS + 50) * AMOUNT
    fund(funded)
    monkeypatch.setattr(crediting, "PAGE_SIZE", 3)  # many pages, many transactions to interleave
    queue = SharedQueue(source)
    # Two scheduled planners and two operator activations at the same instant.
    together([
        lambda: service.run_schedule(now=start, source=source, send=queue.send),
        lambda: service.run_schedule(now=start, source=source, send=queue.send),
        lambda: service.activate(PHASE, now=start, source=source, send=queue.send),
        lambda: service.activate(PHASE, now=start, source=source, send=queue.send),
    ])
    assert ACTIVATION_BUCKETS <= queue.sent <= 3 * ACTIVATION_BUCKETS
    with queue.lock:
        queue.bodies = queue.bodies + list(queue.bodies)  # and every message delivered twice
    handled = together([queue.worker for _ in range(THREADS)])
    assert sum(handled) >= 2 * ACTIVATION_BUCKETS
    ledger = Ledger()
    for wallet_id in wallets:
        assert ledger.balance(accounts.wallet_account(wallet_id)) == AMOUNT
        assert ledger.get_transfer(f"iss:{PHASE}:1:{wallet_id}") is not None
    issued = [t for t in TransferModel.scan() if t.kind == "issuance"]
    assert len(issued) == CITIZENS
    assert treasury() == funded - CITIZENS * AMOUNT
    counters = totals(PHASE)
    assert counters["credited_count"] == CITIZENS
    assert counters["credited_satang"] == CITIZENS * AMOUNT
    assert progress(PHASE, 1, 1)["waves"] == [{"wave": 1, "status": "done", "credited_count": CITIZENS}]
    assert RunModel.get(PHASE, run_key("credit", 1, 1)).status == "done"
    report = audit_ledger()
    assert report.ok, report
    assert drained_summary()["balanced"] is True


def test_racing_expiry_messages_return_each_balance_once(tables, monkeypatch):
    start = utcnow() - timedelta(minutes=5)
    source = MemoryPhaseSource({PHASE: definition(start, waves=1)})
    wallets = seed(60, waves=1)
    fund(100 * AMOUNT)
    queue = SharedQueue(source)
    service.run_schedule(now=start, source=source, send=queue.send)
    queue.worker()
    later = utcnow() + timedelta(days=181)
    monkeypatch.setattr(crediting, "_now", lambda: later)
    together([lambda: service.run_schedule(now=later, source=source, send=queue.send) for _ in range(3)])
    with queue.lock:
        queue.bodies = queue.bodies * 3
    together([queue.worker for _ in range(THREADS)])
    ledger = Ledger()
    assert all(ledger.account(accounts.wallet_account(w)).status == "expired" for w in wallets)
    assert ledger.balance(accounts.returned(PHASE)) == len(wallets) * AMOUNT
    assert totals(PHASE)["expired_satang"] == len(wallets) * AMOUNT
    assert drained_summary()["balanced"] is True
