"""Rolling activation under load on DynamoDB Local with threads: citizens
keep registering while their wave is due, the schedule runs every second,
an operator calls activate again and again, workers take messages in
parallel (and some twice). What an operator would check at the end: every
accepted citizen credited exactly once (one issuance transfer each), the
progress counters equal to the ledger, the ledger balanced; the wave done
only after registration closed."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest

from chalicelib.activation import service
from chalicelib.activation.models import RunModel, run_key
from chalicelib.activation.progress import progress, totals
from chalicelib.activation.source import MemoryPhaseSource
from chalicelib.eligibility import Citizen, PhaseRules
from chalicelib.ledger import Ledger, TransferModel, accounts, audit_ledger
from chalicelib.pii import hash_id
from chalicelib.registration.service import register
from tests.concurrency.test_activation_races import SharedQueue
from tests.integration.test_activation_moto import AMOUNT, PHASE, fund, treasury
from tests.integration.test_rolling_moto import cids, open_phase
from tests.invariants import drained_summary

pytestmark = pytest.mark.concurrency

EARLY = 40  # accepted before the wave's time: the wave's batched sweep
LATE = 300  # accepted while the wave is due, over about a minute
REGISTRARS = 4
REGISTRATION_S = 45.0
WORKERS = 3


class Pump:
    """The schedule every second, activate every 3 s, workers taking messages."""

    def __init__(self, queue: SharedQueue) -> None:
        self.queue = queue
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._guard(self._schedule)),
                        threading.Thread(target=self._guard(self._activate))]
        self.threads += [threading.Thread(target=self._guard(self._work)) for _ in range(WORKERS)]

    def _guard(self, target):
        def run():
            try:
                target()
            except BaseException as exc:
                self.errors.append(exc)
        return run

    def _schedule(self) -> None:
        while not self.stop.wait(1.0):
            service.run_schedule(source=self.queue.source, send=self.queue.send)

    def _activate(self) -> None:
        while not self.stop.wait(3.0):
            service.activate(PHASE, source=self.queue.source, send=self.queue.send)

    def _work(self) -> None:
        duplicate = 0
        while not self.stop.is_set():
            batch = self.queue.take()
            if not batch:
                time.sleep(0.05)
                continue
            for body in batch:
                duplicate += 1
                if duplicate % 7 == 0:
                    self.queue.send(dict(body))  # the same message delivered again later
                with self.queue.lock:
                    event = self.queue.event([body])
                response = service.handle_sqs_event(event, handle=self.queue.handle)
                if response["batchItemFailures"]:
                    self.queue.send(body)

    def __enter__(self) -> Pump:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def test_citizens_registering_while_their_wave_runs_are_each_credited_exactly_once(ddb_local, clock):
    definition = open_phase(clock.now())
    source = MemoryPhaseSource({PHASE: definition})
    queue = SharedQueue(source)
    rules = PhaseRules.from_definition(PHASE, definition)
    funded = (EARLY + LATE + 20) * AMOUNT
    fund(funded)

    def accept(cid: str, at=None) -> str:
        made = register(rules, Citizen(hash_id(cid), date(2006, 1, 1), "TH", "1001"), now=at or clock.now())
        assert made.registration.status == "accepted"
        return made.registration.wallet_id

    wallets = [accept(c, clock.now() - timedelta(hours=2)) for c in cids(EARLY)]
    late_cids = cids(LATE, offset=10_000)
    per = [late_cids[i::REGISTRARS] for i in range(REGISTRARS)]
    pause = REGISTRATION_S / (LATE / REGISTRARS)

    def registrar(numbers: list[str]) -> list[str]:
        out = []
        for cid in numbers:
            out.append(accept(cid))
            time.sleep(pause)
        return out

    with Pump(queue) as pump:
        with ThreadPoolExecutor(max_workers=REGISTRARS) as pool:
            for made in pool.map(registrar, per):
                wallets.extend(made)
        # Within one schedule period plus a few seconds of the last one.
        # (generous on a loaded machine: the schedule runs every second here).
        finished = time.monotonic()
        ledger = Ledger()
        while not all(ledger.balance(accounts.wallet_account(w)) == AMOUNT for w in wallets[-REGISTRARS:]):
            assert time.monotonic() - finished < 20, "the last registrants were not credited in time"
            time.sleep(0.5)
        time.sleep(3)
        assert not pump.errors, pump.errors
        # Registration still open: the wave keeps running.
        assert progress(PHASE, 1, 1)["waves"][0]["status"] == "running"
    ledger = Ledger()
    uncredited = [w for w in wallets if ledger.balance(accounts.wallet_account(w)) != AMOUNT]
    assert uncredited == []
    # Registration closes; the final sweep makes the wave done, crediting no one again.
    clock.advance(timedelta(days=31))
    service.run_schedule(source=source, send=queue.send)
    queue.worker()
    assert RunModel.get(PHASE, run_key("credit", 1, 1)).status == "done"
    issued = [t for t in TransferModel.scan() if t.kind == "issuance"]
    assert len(issued) == len(wallets) == EARLY + LATE
    assert {t.transfer_id for t in issued} == {f"iss:{PHASE}:1:{w}" for w in wallets}
    assert treasury() == funded - len(wallets) * AMOUNT
    counters = totals(PHASE)
    assert counters["credited_count"] == len(wallets)
    assert counters["credited_satang"] == len(wallets) * AMOUNT == funded - treasury()
    report = audit_ledger()
    assert report.ok, report
    assert drained_summary()["balanced"] is True
