"""A cash-transfer wave through five banks on DynamoDB Local (60 citizens here; `make bench` runs 2,000): each citizen's
payout held once from the phase's treasury (however often activation calls),
dispatched in bulk per bank, answered by the bank simulator with a 2%
rejection share (and every PromptPay id ending in 000 rejected), settled or
returned to the treasury; every accepted citizen ends paid once or rejected
with the money back, and the ledger balances. The queues are in-process
lists here: the point is the money, not moto."""
from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import pii, queues
from chalicelib.ledger import Ledger, Transfer, accounts, audit_ledger
from chalicelib.payouts import dispatch, statuses, steps
from chalicelib.payouts.cash_transfers import pay_cash_transfer
from devstack import banksim
from tests.invariants import drained_summary

pytestmark = pytest.mark.concurrency

BANKS = ("002", "004", "006", "011", "014")
CITIZENS_PER_BANK = 12
AMOUNT = 500_000
SHARDS = 4


class _Queue:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> dict[str, str]:
        self.bodies.append(MessageBody)
        return {"MessageId": str(len(self.bodies))}


def _cid(n: int) -> str:
    # 13 digits; the 8th and the 58th end in 000 (always AC01 at the bank).
    return f"{1_100_000_000_000 + n * 1000 + (0 if n % 50 == 7 else 1):013d}"


@pytest.mark.timeout(300)
def test_every_citizen_paid_once_or_rejected_with_the_money_back(ddb_local, tmp_path, monkeypatch):
    monkeypatch.setenv("WALLET_DEVSTACK_DIR", str(tmp_path))
    ledger = Ledger()
    for bank in BANKS:
        phase = f"cash-{bank}"
        for shard in range(SHARDS):
            ledger.post(Transfer(f"fund-{phase}-{shard}", accounts.BUDGET_ACCOUNT,
                                 accounts.treasury_shard(phase, shard), CITIZENS_PER_BANK * AMOUNT, "phase_funding"))
    citizens = [(bank, n) for bank in BANKS for n in range(CITIZENS_PER_BANK * BANKS.index(bank),
                                                             CITIZENS_PER_BANK * (BANKS.index(bank) + 1))]

    def activate(job: tuple[str, int]) -> str:
        bank, n = job
        result = pay_cash_transfer(phase_id=f"cash-{bank}", citizen_hash=pii.hash_id(_cid(n)), promptpay_id=_cid(n),
                                   amount_satang=AMOUNT, bank_code=bank, treasury_shards=SHARDS)
        return result.payout_id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(activate, citizens))
        # Activation runs again (a redelivered message, an overlapping run): nothing new.
        assert list(pool.map(activate, citizens)) == ids
    assert drained_summary()["in_flight_satang"] == len(citizens) * AMOUNT

    sent: dict[str, list[str]] = {bank: [] for bank in BANKS}
    monkeypatch.setattr(queues, "send_json",
                        lambda short, body, delay_s=0: sent[body["bank_code"]].append(json.dumps(body)) or "id")
    answers = _Queue()
    sim = banksim.BankSimulator("cash", None, None, "ap-southeast-1", queues.queue_name, "bucket", banks=BANKS, seed=3)
    sim._sqs = answers  # type: ignore[assignment]
    for bank in BANKS:
        banksim.write_behaviour("cash", bank, reject_share=0.02)
        assert dispatch.dispatch_bank(bank) == CITIZENS_PER_BANK
        assert len(sent[bank]) == 1  # one bulk pacs.008 per bank
        for body in sent[bank] * 2:  # each instruction arrives twice: the bank pays once
            sim.take(bank, body)
        sim._flush(bank, "status")
    outcomes: Counter[str] = Counter()
    for body in answers.bodies:
        outcomes.update(statuses.handle_message(body))
    assert outcomes["settled"] + outcomes["rejected"] == len(citizens)
    assert outcomes["duplicate"] == len(citizens)  # the second answers moved nothing
    assert outcomes["rejected"] >= 2  # the ids ending in 000, at least

    final = Counter(steps.get_payout(i).status for i in ids)  # type: ignore[union-attr]
    assert final == {"settled": outcomes["settled"], "rejected": outcomes["rejected"]}
    summary = drained_summary()
    assert summary["in_flight_satang"] == 0
    assert summary["paid_out_satang"] == outcomes["settled"] * AMOUNT
    # The rejected money is back in the phases' treasuries.
    assert summary["treasury_satang"] == (len(BANKS) * SHARDS * CITIZENS_PER_BANK - outcomes["settled"]) * AMOUNT
    for bank in BANKS:
        paid = [e for e in sim.books[bank].entries.values() if e["status"] == "ACSC"]
        assert len(paid) == sum(1 for i, (b, _) in zip(ids, citizens, strict=True) if b == bank
                                and steps.get_payout(i).status == "settled")  # type: ignore[union-attr]
    report = audit_ledger()
    assert report.ok and summary["balanced"], report
