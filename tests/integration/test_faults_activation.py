"""Faults under activation (moto in-process), injected at the botocore
level (tests/faults.py): a crash between two steps of a crediting batch,
throttling and conflicts on its ledger transactions, a write whose answer was
lost, and SQS delivering the activation messages twice, late and out of
order. After each: the ledger audit balances, no citizen is credited twice,
and the phase's counters (what the operator reads) match the wallets."""
from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.activation import crediting, service
from chalicelib.activation.models import RunModel, run_key
from chalicelib.activation.progress import totals
from chalicelib.activation.source import MemoryPhaseSource
from chalicelib.clock import utcnow
from chalicelib.ledger import Ledger, accounts
from tests.faults import Crash, Faults
from tests.integration.test_activation_moto import AMOUNT, PHASE, FakeQueue, definition, fund, seed
from tests.invariants import assert_invariants, drained_summary

pytestmark = pytest.mark.integration

CITIZENS = 24


@pytest.fixture
def start():
    return utcnow() - timedelta(minutes=5)


@pytest.fixture
def phase(moto_aws, start, monkeypatch) -> tuple[FakeQueue, dict[str, int], Any]:
    source = MemoryPhaseSource({PHASE: definition(start, waves=1)})
    monkeypatch.setattr(crediting, "PAGE_SIZE", 3)  # several ledger transactions per bucket
    # Crediting keeps one ledger per process; an earlier test's holds another
    # client than the one the faults are put on.
    crediting._cached_ledger.cache_clear()
    wallets = seed(CITIZENS, waves=1)
    fund(100 * AMOUNT)
    return FakeQueue(source), wallets, start


class CrashingQueue(FakeQueue):
    """As Lambda and SQS: a call that dies (``Crash``) fails its whole batch,
    which SQS delivers again after the visibility timeout."""

    crashes = 0

    def drain(self, rounds_max: int = 200) -> int:
        for _ in range(rounds_max):
            if not self.bodies:
                return self.crashes
            batch, self.bodies = self.bodies[:10], self.bodies[10:]
            try:
                response = self.deliver(batch)
            except Crash:
                self.crashes += 1
                self.redelivered.update(id(b) for b in batch)
                self.bodies.extend(batch)
                continue
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            first = self.serial - len(batch) + 1
            self.bodies.extend(b for i, b in enumerate(batch) if f"m-{first + i}" in failed)
        raise AssertionError("queue did not drain")


def crashing(queue: FakeQueue) -> CrashingQueue:
    crashing_queue = CrashingQueue(queue.source)
    crashing_queue.bodies = queue.bodies
    return crashing_queue


def check_credited_once(wallets: dict[str, int]) -> None:
    assert_invariants(AMOUNT)
    ledger = Ledger()
    assert all(ledger.balance(accounts.wallet_account(w)) == AMOUNT for w in wallets)
    assert RunModel.get(PHASE, run_key("credit", 1, 1)).status == "done"
    shown = totals(PHASE)
    assert shown["credited_count"] == len(wallets), shown  # the operator's count, not only the money
    assert shown["credited_satang"] == len(wallets) * AMOUNT, shown
    assert RunModel.get(PHASE, run_key("credit", 1, 1)).status == "done"


@pytest.mark.parametrize("after_step", ["ledger", "counters"])
def test_a_crash_between_two_steps_of_a_crediting_batch_then_the_redelivery_credits_no_one_twice(phase, after_step):
    queue, wallets, start = phase
    service.run_schedule(now=start, source=queue.source, send=queue.send)
    queue = crashing(queue)
    with Faults() as faults:
        if after_step == "ledger":
            # The batch's second ledger transaction is written, then the process dies
            # before the phase's counters and the bucket's cursor move.
            faults.crash("TransactWriteItems", after=True, skip=1)
        else:
            # The counters of the first page moved; the process dies on the next ledger write.
            faults.crash("TransactWriteItems", skip=1)
        assert queue.drain() == 1
    assert faults.fired() == 1
    check_credited_once(wallets)


def test_throttling_conflicts_and_lost_answers_during_crediting_credit_each_citizen_once(phase):
    queue, wallets, start = phase
    service.run_schedule(now=start, source=queue.source, send=queue.send)
    with Faults() as faults:
        faults.throttle("TransactWriteItems", times=2).cancel(times=3, skip=2)
        faults.timeout_after_write("TransactWriteItems", times=2, skip=4)
        faults.throttle("Query", times=2, skip=1)
        queue.drain()
    assert faults.fired("throttle") == 4 and faults.fired("cancel") == 3 and faults.fired("timeout_after") == 2
    check_credited_once(wallets)


def test_sqs_delivering_every_message_twice_out_of_order_and_late_credits_once(phase):
    queue, wallets, start = phase
    service.run_schedule(now=start, source=queue.source, send=queue.send)
    late = [dict(b) for b in queue.bodies[:5]]
    bodies = queue.bodies + [dict(b) for b in queue.bodies]
    random.Random(13).shuffle(bodies)
    queue.bodies = bodies
    queue.drain()
    check_credited_once(wallets)
    before = drained_summary()
    queue.bodies = late  # the same messages again, after the run is done (a stuck consumer's)
    queue.drain()
    assert drained_summary() == before
    check_credited_once(wallets)
