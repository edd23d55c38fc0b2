"""Cash-transfer phases on DynamoDB Local, through the real rolling path:
2,000 citizens register for five cash_transfer phases (one per bank: 002,
004, 006, 011, 014), most before their wave's time and the rest while an
operator's activate and the schedule race with them; workers take the
activation messages side by side, some twice, and every credit message is
replayed at the end. Each accepted citizen's payout is held once from its
phase's treasury, dispatched in bulk per bank, answered by the bank
simulator (devstack/banksim.py) with a 2% rejection share (every instruction
arriving twice), and settled or returned to the treasury by the status
handler. An operator checks: every accepted citizen paid once or rejected
with the money back, the phase's progress equal to the ledger, the ledger
balanced. The queues between the pieces are in-process lists: the point is
the money, not moto."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import pytest

from chalicelib import queues
from chalicelib.activation import service
from chalicelib.activation.progress import progress
from chalicelib.activation.source import MemoryPhaseSource
from chalicelib.clock import iso
from chalicelib.eligibility import Citizen, PhaseRules
from chalicelib.ledger import TransferModel, audit_ledger
from chalicelib.limits import ACTIVATION_BUCKETS
from chalicelib.payouts import dispatch, statuses
from chalicelib.payouts.cash_transfers import cash_transfer_id
from chalicelib.payouts.models import PayoutModel
from chalicelib.pii import hash_id
from chalicelib.registration.service import register
from devstack import banksim
from tests.concurrency.test_activation_races import SharedQueue
from tests.integration.test_activation_moto import fund, treasury
from tests.integration.test_rolling_moto import cids
from tests.invariants import drained_summary

pytestmark = pytest.mark.concurrency

BANKS = ("002", "004", "006", "011", "014")
CITIZENS = 2_000
RACING = 300  # registered while activate and the schedule run
AMOUNT = 500_000
SPARE = 3  # each treasury covers its citizens and three more
REGISTRARS = 6
WORKERS = 4


class _Outbox:
    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.lock = threading.Lock()

    def send_message(self, QueueUrl: str, MessageBody: str) -> dict[str, str]:
        with self.lock:
            self.bodies.append(MessageBody)
            return {"MessageId": str(len(self.bodies))}


def _phase(bank: str, now: Any) -> dict[str, Any]:
    return {
        "name": f"Cash transfer via {bank}", "kind": "cash_transfer", "amount_satang": AMOUNT,
        "tranches": [{"amount_satang": AMOUNT, "after_days": 0}],
        "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16",
        "registration_opens_at": iso(now - timedelta(days=30)),
        "registration_closes_at": iso(now + timedelta(days=30)),
        "waves": [{"activate_at": iso(now - timedelta(hours=1))}],
        "expires_after_days": 180, "budget_satang": 10**12, "payout_bank_code": bank,
    }


class Pump:
    """Activate for every phase and the schedule, over and over, while
    workers take the activation messages (every 5th delivered twice)."""

    def __init__(self, queue: SharedQueue, phases: list[str]) -> None:
        self.queue, self.phases = queue, phases
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.handled: list[dict[str, Any]] = []
        self.threads = [threading.Thread(target=self._guard(self._plan))]
        self.threads += [threading.Thread(target=self._guard(self._work)) for _ in range(WORKERS)]

    def _guard(self, target: Any) -> Any:
        def run() -> None:
            try:
                target()
            except BaseException as exc:
                self.errors.append(exc)
        return run

    def _plan(self) -> None:
        while not self.stop.wait(1.0):
            for phase_id in self.phases:
                service.activate(phase_id, source=self.queue.source, send=self.queue.send)
            service.run_schedule(source=self.queue.source, send=self.queue.send)

    def _work(self) -> None:
        seen = 0
        while not self.stop.is_set():
            batch = self.queue.take()
            if not batch:
                time.sleep(0.05)
                continue
            for body in batch:
                seen += 1
                if seen % 5 == 0:
                    self.queue.send(dict(body))  # the same message again, later
                with self.queue.lock:
                    event = self.queue.event([body])
                    self.handled.append(body)
                if service.handle_sqs_event(event, handle=self.queue.handle)["batchItemFailures"]:
                    self.queue.send(body)

    def __enter__(self) -> Pump:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


@pytest.mark.timeout(300)  # about 90 s on an idle 2-core machine
def test_every_accepted_citizen_is_paid_once_or_rejected_with_the_money_back(ddb_local, clock, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("WALLET_DEVSTACK_DIR", str(tmp_path))
    now = clock.now()
    phases = {f"cash-{bank}": _phase(bank, now) for bank in BANKS}
    source = MemoryPhaseSource(phases)
    queue = SharedQueue(source)
    per_phase = CITIZENS // len(BANKS)
    for phase_id in phases:
        fund((per_phase + SPARE) * AMOUNT, phase_id)
    rules = {p: PhaseRules.from_definition(p, d) for p, d in phases.items()}
    citizens = [(f"cash-{BANKS[n % len(BANKS)]}", cid) for n, cid in enumerate(cids(CITIZENS, offset=20_000))]

    def accept(job: tuple[str, str], at: Any = None) -> str:
        phase_id, cid = job
        made = register(rules[phase_id], Citizen(hash_id(cid), date(2006, 1, 1), "TH", "1001"),
                        now=at or clock.now(), promptpay_id=cid)
        assert made.registration.status == "accepted"
        return cash_transfer_id(phase_id, hash_id(cid), 1)

    early, racing = citizens[:-RACING], citizens[-RACING:]
    with ThreadPoolExecutor(REGISTRARS) as pool:
        ids = list(pool.map(lambda job: accept(job, now - timedelta(hours=2)), early))
    with Pump(queue, list(phases)) as pump:
        with ThreadPoolExecutor(REGISTRARS) as pool:
            ids += list(pool.map(accept, racing))  # while activate and the schedule run
        deadline = time.monotonic() + 60
        while sum(progress(p, 1, 1)["credited_count"] for p in phases) < CITIZENS:
            assert time.monotonic() < deadline, "accepted citizens not paid within a minute"
            time.sleep(1.0)
        time.sleep(2)
        assert not pump.errors, pump.errors
        credit_messages = [b for b in pump.handled if b["op"] == "credit"]
    # Every distinct credit message of the runs delivered once more (SQS
    # redelivers a message whose handler died after its work): nothing new.
    replays = {json.dumps({**b, "recheck": False}, sort_keys=True): b for b in credit_messages}
    assert len(replays) >= len(phases) * ACTIVATION_BUCKETS
    for body in replays.values():
        again = dict(body)
        queue.redelivered.add(id(again))
        queue.send(again)
    queue.worker()
    held = [t for t in TransferModel.scan() if t.kind == "cash_transfer"]
    assert sorted(t.transfer_id for t in held) == sorted(ids)  # one payout per citizen, none twice
    assert all(int(t.amount_satang) == AMOUNT for t in held)
    for phase_id in phases:
        assert treasury(phase_id) == SPARE * AMOUNT
    assert drained_summary()["in_flight_satang"] == CITIZENS * AMOUNT

    # Dispatched in bulk per bank, answered by the simulator (each instruction twice).
    sent: dict[str, list[str]] = {bank: [] for bank in BANKS}
    monkeypatch.setattr(queues, "send_json",
                        lambda short, body, delay_s=0: sent[body["bank_code"]].append(json.dumps(body)) or "id")
    answers = _Outbox()
    sim = banksim.BankSimulator("cash", None, None, "ap-southeast-1", queues.queue_name, "bucket", banks=BANKS, seed=3)
    sim._sqs = answers  # type: ignore[assignment]
    for bank in BANKS:
        banksim.write_behaviour("cash", bank, reject_share=0.02)
        assert dispatch.dispatch_bank(bank) == per_phase
        assert len(sent[bank]) == 1  # 400 payouts: one bulk pacs.008 (up to 500)
        for body in sent[bank] * 2:
            sim.take(bank, body)
        sim._flush(bank, "status")
    # The answers (each twice) handled side by side: each hold resolved once,
    # a duplicate racing its first told apart by the ledger's replay.
    with ThreadPoolExecutor(len(BANKS)) as pool:
        outcomes = sum((Counter(c) for c in pool.map(statuses.handle_message, answers.bodies)), Counter())
    assert outcomes["settled"] + outcomes["rejected"] == CITIZENS
    assert outcomes["duplicate"] == CITIZENS  # the second answers moved nothing
    assert not {"unknown", "contradiction", "invalid", "failed"} & set(outcomes), outcomes

    final = {p.payout_id: p for p in PayoutModel.scan()}
    assert set(final) == set(ids)
    states = Counter(p.status for p in final.values())
    assert states == {"settled": outcomes["settled"], "rejected": outcomes["rejected"]}
    assert 10 <= states["rejected"] <= 100  # about 2% (and the PromptPay ids ending in 000)
    summary = drained_summary()
    assert summary["in_flight_satang"] == 0
    assert summary["paid_out_satang"] == states["settled"] * AMOUNT
    for bank in BANKS:
        phase_id = f"cash-{bank}"
        mine = [p for p in final.values() if p.phase_id == phase_id]
        rejected = sum(1 for p in mine if p.status == "rejected")
        # The rejected money is back in the phase's treasury, and its progress says so.
        assert treasury(phase_id) == (SPARE + rejected) * AMOUNT
        shown = progress(phase_id, 1, 1)
        assert (shown["credited_count"], shown["credited_satang"]) == (per_phase, per_phase * AMOUNT)
        assert shown["payouts_rejected_count"] == rejected
        assert shown["payouts_returned_satang"] == rejected * AMOUNT
        paid = [e for e in sim.books[bank].entries.values() if e["status"] == "ACSC"]
        assert len(paid) == len(mine) - rejected  # the bank paid each settled one, once
    report = audit_ledger()
    assert report.ok and summary["balanced"], report
