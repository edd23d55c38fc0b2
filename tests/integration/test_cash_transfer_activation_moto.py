"""A cash_transfer phase through rolling activation on moto, single-threaded:
each accepted citizen's tranche is one payout to their PromptPay id (the
national ID, kept only encrypted) through the phase's bank, from its
treasury, exactly once: a due wave's sweep, a late registrant through the
mark with nobody calling activate, the budget's stop and resume, a crash
between the hold and the mark's removal, a paused bank. The bank's answers
settle it or return the money to the treasury, and the phase's progress says
so. Many citizens through five banks, concurrently: tests/concurrency/
test_cash_transfer_phase.py."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib import queues, rolling, switches
from chalicelib.activation import late, service
from chalicelib.activation.progress import progress, totals
from chalicelib.activation.source import MemoryPhaseSource
from chalicelib.eligibility import Citizen, PhaseRules
from chalicelib.ledger import BatchCredit, Ledger, TransferModel, accounts, audit_ledger
from chalicelib.payouts import dispatch, statuses, steps
from chalicelib.payouts.cash_transfers import cash_transfer_id, citizen_payouts
from chalicelib.payouts.models import PayoutModel
from chalicelib.pii import hash_id
from chalicelib.registration.models import RegistrationModel
from chalicelib.registration.service import register
from tests.integration.test_activation_moto import AMOUNT, PHASE, FakeQueue, fund, treasury
from tests.integration.test_rolling_moto import cids, open_phase
from tests.invariants import drained_summary

pytestmark = pytest.mark.integration

BANK = "006"
MARGIN = timedelta(seconds=rolling.MARGIN_S + 1)
REGION = "ap-southeast-1"


class World:
    def __init__(self, clock: Any, definition: dict[str, Any]) -> None:
        self.clock = clock
        self.source = MemoryPhaseSource({PHASE: definition})
        self.queue = FakeQueue(self.source)

    @property
    def rules(self) -> PhaseRules:
        return PhaseRules.from_definition(PHASE, self.source.phases[PHASE])

    def register(self, numbers: list[str], at: datetime | None = None, born: date = date(2006, 1, 1)) -> list[str]:
        """Registers each national ID (a citizen's own registration gives
        the token's cid as the PromptPay id); returns their payout ids."""
        out = []
        for cid in numbers:
            made = register(self.rules, Citizen(hash_id(cid), born, "TH", "1001"), now=at or self.clock.now(),
                            promptpay_id=cid)
            if made.registration.status == "accepted":
                out.append(cash_transfer_id(PHASE, hash_id(cid), 1))
        return out

    def tick(self) -> dict[str, int]:
        sent = service.run_schedule(source=self.source, send=self.queue.send)
        self.queue.drain()
        return sent


@pytest.fixture
def world(moto_aws, clock):
    return World(clock, open_phase(clock.now(), kind="cash_transfer", payout_bank_code=BANK))


def payouts() -> dict[str, PayoutModel]:
    return {p.payout_id: p for p in PayoutModel.scan()}


def marks() -> list[RegistrationModel]:
    return [r for r in RegistrationModel.scan() if r.due_key]


def bank_answers(reject: set[str] = frozenset()) -> dict[str, str]:  # type: ignore[assignment]
    """The bank reads its queue and answers every instruction: ACSC, or
    RJCT AC04 for ``reject``; returns end_to_end_id -> PromptPay id sent."""
    sqs = boto3.client("sqs", region_name=REGION)
    sent: dict[str, str] = {}
    while True:
        got = sqs.receive_message(QueueUrl=queues.queue_url(queues.bank_queue(BANK)), MaxNumberOfMessages=10)
        if not got.get("Messages"):
            return sent
        for message in got["Messages"]:
            body = json.loads(message["Body"])
            answers = []
            for tx in body["transactions"]:
                assert tx["purpose"] == "cash_transfer"
                sent[tx["end_to_end_id"]] = tx["creditor"]["promptpay_id"]
                rejected = tx["end_to_end_id"] in reject
                answers.append({"original_end_to_end_id": tx["end_to_end_id"], "status": "RJCT" if rejected else "ACSC",
                                "reason_code": "AC04" if rejected else None, "settled_at": None})
            statuses.handle_message(json.dumps({"message_type": "pacs.002", "msg_id": f"a-{body['msg_id']}",
                                                "bank_code": BANK, "statuses": answers}))
            sqs.delete_message(QueueUrl=queues.queue_url(queues.bank_queue(BANK)),
                               ReceiptHandle=message["ReceiptHandle"])


def assert_balanced() -> None:
    report = audit_ledger()
    assert report.ok, report
    assert drained_summary()["balanced"] is True


def test_a_due_wave_pays_each_accepted_citizen_once_to_their_promptpay_id(world, clock):
    fund(10 * AMOUNT)
    numbers = cids(5)
    paid = world.register(numbers, at=clock.now() - timedelta(hours=2))
    world.register(cids(1, offset=50), at=clock.now() - timedelta(hours=2), born=date(1980, 1, 1))  # outside
    sent = world.tick()
    assert sent[f"{PHASE}:credit#001#01"] == 64
    assert sorted(payouts()) == sorted(paid)
    assert {p.kind for p in payouts().values()} == {"cash_transfer"}
    assert {p.status for p in payouts().values()} == {"pending"}
    assert treasury() == 5 * AMOUNT
    # The run's messages delivered again, and an operator's activate: nothing twice.
    service.activate(PHASE, now=clock.now() + timedelta(minutes=1), source=world.source, send=world.queue.send)
    world.queue.drain()
    assert len(payouts()) == 5 and treasury() == 5 * AMOUNT
    # The national ID is in clear nowhere in the tables, only in the instruction.
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for table in dynamodb.list_tables()["TableNames"]:
        dumped = json.dumps(dynamodb.scan(TableName=table)["Items"])
        assert not [n for n in numbers if n in dumped], table
    assert dispatch.dispatch_bank(BANK) == 5
    back = paid[0]
    sent_to = bank_answers(reject={back})
    assert sent_to == {cash_transfer_id(PHASE, hash_id(n), 1): n for n in numbers}
    final = {p.payout_id: p.status for p in payouts().values()}
    assert final == {**{p: "settled" for p in paid}, back: "rejected"}
    # The rejected money is back in the treasury, and the progress says so.
    assert treasury() == 6 * AMOUNT
    shown = progress(PHASE, 1, 1)
    assert shown["credited_count"] == 5 and shown["credited_satang"] == 5 * AMOUNT
    assert shown["payouts_rejected_count"] == 1 and shown["payouts_returned_satang"] == AMOUNT
    assert shown["uncredited_count"] == 0
    assert drained_summary()["paid_out_satang"] == 4 * AMOUNT
    # Paid out, not spent: no expiry, ever.
    clock.advance(timedelta(days=400))
    sent = world.tick()
    assert not [k for k in sent if "expire" in k]
    assert_balanced()


def test_a_late_registrant_is_paid_by_the_next_schedule_run_alone(world, clock):
    fund(10 * AMOUNT)
    world.register(cids(2), at=clock.now() - timedelta(hours=2))
    world.tick()
    late_ids = world.register(cids(3, offset=100))
    assert len(marks()) == 3 and not set(late_ids) & set(payouts())
    world.tick()  # nobody calls activate
    assert set(late_ids) <= set(payouts())
    who = hash_id(cids(3, offset=100)[0])
    assert citizen_payouts(who)[PHASE] == {"payout_id": late_ids[0], "status": "pending", "amount_satang": AMOUNT}
    clock.advance(MARGIN)
    world.tick()
    world.tick()
    assert marks() == []
    assert len(payouts()) == 5 and totals(PHASE)["credited_count"] == 5
    assert treasury() == 5 * AMOUNT
    assert_balanced()


def test_the_budget_caps_the_payouts_and_a_raised_budget_pays_the_rest(world, clock):
    fund(2 * AMOUNT + AMOUNT // 2)
    world.tick()
    late_ids = world.register(cids(4, offset=200))
    world.tick()
    held = set(payouts())
    assert len(held) == 2 and held <= set(late_ids)
    assert treasury() == AMOUNT // 2  # never overdrawn
    shown = progress(PHASE, 1, 1)
    assert shown["waves"][0]["status"] == "stopped" and shown["stopped_reason"] == "budget_exhausted"
    assert shown["uncredited_count"] == 2
    assert len(marks()) >= 2  # the unpaid stay marked, not lost
    clock.advance(MARGIN)
    world.tick()
    assert set(payouts()) == held  # nothing moves without money
    # The operator raises the budget (the PUT funds the difference); no activate.
    Ledger().post_batch([accounts.BUDGET_ACCOUNT],
                        [BatchCredit("fund:raise", accounts.treasury_shard(PHASE, 3), 10 * AMOUNT)], "funding")
    world.tick()
    world.tick()
    assert set(payouts()) == set(late_ids)
    assert progress(PHASE, 1, 1)["waves"][0]["status"] == "running"
    assert marks() == []
    assert totals(PHASE)["credited_satang"] == 4 * AMOUNT
    assert_balanced()


def test_a_crash_between_the_hold_and_the_marks_removal_still_pays_once(world, clock, monkeypatch):
    fund(10 * AMOUNT)
    world.tick()
    late_ids = world.register(cids(3, offset=300))
    clock.advance(MARGIN)  # the mark may go in the same pass as the payout
    real_clear = late._clear
    calls = {"clear": 0}

    def dies_after_the_hold(mark):
        calls["clear"] += 1
        if calls["clear"] == 1:
            raise RuntimeError("process died after the hold, before the mark went")
        return real_clear(mark)

    monkeypatch.setattr(late, "_clear", dies_after_the_hold)
    service.run_schedule(source=world.source, send=world.queue.send)
    assert world.queue.drain() >= 1  # the message failed and was delivered again
    for _ in range(2):
        clock.advance(timedelta(seconds=service.LATE_LEASE_S))
        world.tick()
    assert calls["clear"] >= 2 and marks() == []
    assert sorted(payouts()) == sorted(late_ids)
    assert len([t for t in TransferModel.scan() if t.kind == "cash_transfer"]) == 3
    assert totals(PHASE)["credited_count"] == 3 and treasury() == 7 * AMOUNT
    assert_balanced()


def test_a_paused_bank_holds_the_cash_transfers_in_the_ledger_until_it_resumes(world, clock):
    fund(10 * AMOUNT)
    world.register(cids(3, offset=400), at=clock.now() - timedelta(hours=2))
    world.tick()
    switches.set_switch("withdrawals", "paused", f"bank:{BANK}", "bank maintenance")
    assert dispatch.run_schedule(banks=[BANK])["sent"] == {}
    assert {p.status for p in payouts().values()} == {"pending"}
    assert drained_summary()["in_flight_satang"] == 3 * AMOUNT
    switches.set_switch("withdrawals", "on", f"bank:{BANK}", "maintenance over")
    assert dispatch.run_schedule(banks=[BANK])["sent"] == {BANK: 3}
    bank_answers()
    assert {steps.get_payout(p).status for p in payouts()} == {"settled"}  # type: ignore[union-attr]
    assert drained_summary()["paid_out_satang"] == 3 * AMOUNT
    assert_balanced()
