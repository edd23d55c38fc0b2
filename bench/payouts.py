"""Payouts against DynamoDB Local, next to raw TransactWriteItems of the
same shapes measured in the same run (issue: open loop).

- a hold (step 1): the hold's record (put, ``attribute_not_exists``), the
  source's debit (``balance >= amount``), the in-flight credit and the payout
  record (put, ``attribute_not_exists``): one transaction of 4 items;
- a settle (step 3): the settle's record, the hold's mark (``state =
  pending``), the in-flight debit, the paid-out credit and the payout
  record's status (conditional): one transaction of 5 items, plus the reads
  on the way (the payout record, the hold's record);
- messages per payout: the dispatcher's bulk pacs.008 and the simulator's
  pacs.002 for the same payouts (target: at most 1/500 each way);
- a cash-transfer wave (2,000 citizens through 5 banks, 2% rejected) from
  request to ``settled`` through the simulator, in process (its queues are
  lists here, so that what is measured is the program's and the bank's
  work, not moto's): payouts per second, every citizen paid once or
  rejected with the money back in the treasury, the ledger balanced.

Rounds alternate between the app and the raw path (``bench.stats``); the
wall-clock ratio is the median of the rounds' ratios, the CPU ratio (this
process and DynamoDB Local, ``bench.cpu``) that of the totals over every
round. Target: CPU ratio >= 0.8 for each step.
"""
from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3

from bench.cpu import CpuMeter
from bench.ledger import _timed
from bench.meter import Meter, add_snapshot, empty_snapshot
from bench.stats import Rounds, in_turn
from chalicelib.payouts.rules import TRANSACTIONS_PER_MESSAGE_MAX

__all__ = ["run", "PAYOUTS_DEFAULT", "TARGET_RATIO"]

# 100 steps a round each way (about half a second of the emulator's CPU):
# with 8 rounds of 100 the hold's ratio moved 0.95-1.00 between three runs,
# the emulator's JIT compilations falling on one path or the other
# (kept out of the count since: bench.cpu).
PAYOUTS_DEFAULT = 2_000
WORKERS = 4
ROUNDS = 20
AMOUNT_SATANG = 1_000
TARGET_RATIO = 0.8
PIPELINE_DEFAULT = 2_000
PIPELINE_BANKS = ("002", "004", "006", "011", "014")
PIPELINE_REJECT_SHARE = 0.02


class _Raw:
    """boto3 TransactWriteItems of the payout steps' shapes, nothing else."""

    def __init__(self, endpoint: str, region: str, accounts: str, transfers: str, payouts: str) -> None:
        self.client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
        self.accounts, self.transfers, self.payouts = accounts, transfers, payouts

    def _record(self, tid: str, debit: str, credit: str, state: str) -> dict[str, Any]:
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        return {"Put": {"TableName": self.transfers, "Item": {
            "transfer_id": {"S": tid}, "kind": {"S": "withdrawal"}, "debit_account": {"S": debit},
            "credit_account": {"S": credit}, "amount_satang": {"N": str(AMOUNT_SATANG)}, "state": {"S": state},
            "created_at": {"S": now}, "history_sort": {"S": f"{now}#{tid}"}, "post_to": {"S": "paid_out:004"}},
            "ConditionExpression": "attribute_not_exists(transfer_id)"}}

    def _balance(self, account: str, delta: int) -> dict[str, Any]:
        update: dict[str, Any] = {"TableName": self.accounts, "Key": {"account_id": {"S": account}},
                                  "UpdateExpression": "ADD balance_satang :d SET kind = if_not_exists(kind, :k)",
                                  "ExpressionAttributeValues": {":d": {"N": str(delta)}, ":k": {"S": "x"}}}
        if delta < 0:
            update["ConditionExpression"] = "balance_satang >= :a"
            update["ExpressionAttributeValues"][":a"] = {"N": str(-delta)}
        return {"Update": update}

    def hold(self, pid: str, source: str, in_flight: str) -> None:
        self.client.transact_write_items(TransactItems=[
            self._record(pid, source, in_flight, "pending"), self._balance(source, -AMOUNT_SATANG),
            self._balance(in_flight, AMOUNT_SATANG),
            {"Put": {"TableName": self.payouts, "Item": {
                "payout_id": {"S": pid}, "status": {"S": "pending"}, "bank_code": {"S": "004"},
                "amount_satang": {"N": str(AMOUNT_SATANG)}, "dispatch_bank": {"S": "004"},
                "list_sort": {"S": f"x#{pid}"}, "owner_key": {"S": "merchant:raw"}, "kind": {"S": "withdrawal"},
                "created_at": {"S": "x"}, "source_account": {"S": source}, "hold_account": {"S": in_flight},
                "creditor_name": {"S": "Shop"}, "creditor_id_kind": {"S": "account_no"},
                "creditor_id_enc": {"S": "x" * 60}, "timeout_hours": {"N": "24"}, "inquiry": {"BOOL": False}},
                "ConditionExpression": "attribute_not_exists(payout_id)"}}])

    def settle(self, pid: str, in_flight: str, paid_out: str) -> None:
        self.client.get_item(TableName=self.payouts, Key={"payout_id": {"S": pid}}, ConsistentRead=True)
        self.client.get_item(TableName=self.transfers, Key={"transfer_id": {"S": pid}}, ConsistentRead=True)
        self.client.transact_write_items(TransactItems=[
            self._record(f"{pid}.post", in_flight, paid_out, "posted"),
            {"Update": {"TableName": self.transfers, "Key": {"transfer_id": {"S": pid}},
                        "UpdateExpression": "SET #s = :posted", "ConditionExpression": "#s = :pending",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":posted": {"S": "posted"}, ":pending": {"S": "pending"}}}},
            self._balance(in_flight, -AMOUNT_SATANG), self._balance(paid_out, AMOUNT_SATANG),
            {"Update": {"TableName": self.payouts, "Key": {"payout_id": {"S": pid}},
                        "UpdateExpression": "SET #s = :settled, settled_at = :t, settled_key = :k "
                                            "REMOVE dispatch_bank, awaiting_bank",
                        "ConditionExpression": "#s IN (:pending, :sent)", "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":settled": {"S": "settled"}, ":t": {"S": "x"},
                                                      ":k": {"S": "004#x"}, ":pending": {"S": "pending"},
                                                      ":sent": {"S": "sent"}}}}])


class _Queue:
    """An in-process stand-in for SQS: what was sent, in order."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> dict[str, str]:
        self.bodies.append(MessageBody)
        return {"MessageId": str(len(self.bodies))}


def _per(count: int, value: float) -> float:
    return round(value / count, 3) if count else 0.0


def _measure(name: str, app_fn: Callable[[int], None], raw_fn: Callable[[int], None], count: int, workers: int,
             meter: Meter, cpu: CpuMeter, say: Callable[[str], None]) -> dict[str, Any]:
    """One payout step, the app's and the raw path in alternating rounds."""
    say(f"{count} {name}s, app and raw, {workers} workers, {ROUNDS} rounds")
    cost = empty_snapshot()
    rounds = Rounds()
    for r in range(ROUNDS):
        part = range(r * count // ROUNDS, (r + 1) * count // ROUNDS)

        def app_round(part: range = part) -> float:
            meter.reset()
            with cpu.measure(name):
                seconds = _timed(workers, part, app_fn)
            add_snapshot(cost, meter.snapshot())
            return seconds

        def raw_round(part: range = part) -> float:
            with cpu.measure(f"raw_{name}"):
                return _timed(workers, part, raw_fn)

        app_s, raw_s = in_turn(r, app_round, raw_round)
        rounds.add(len(part), app_s, len(part), raw_s)
    return {
        "ratio": round(rounds.median_ratio(), 3), "ratio_rounds": rounds.summary(),
        "cpu_ratio": round(cpu.ratio(name, count, f"raw_{name}", count), 3),
        "cpu_ms_per_step": cpu.per_op_ms(name, count), "raw_cpu_ms_per_step": cpu.per_op_ms(f"raw_{name}", count),
        "transact_writes_per_step": _per(count, cost["requests"].get("TransactWriteItems", 0)),
        "items_per_step": _per(count, cost["items"].get("TransactWriteItems", 0)),
        "reads_per_step": _per(count, cost["requests"].get("GetItem", 0)),
        "requests_per_step": _per(count, sum(cost["requests"].values())),
        "write_units_per_step": _per(count, cost["write_units"]),
    }


def _wave(settings: Any, ledger: Any, citizens: int, workers: int, now: datetime) -> dict[str, Any]:
    """A cash-transfer wave through the simulated banks, in process."""
    from chalicelib import queues
    from chalicelib.ledger import Transfer, accounts
    from chalicelib.payouts import dispatch, statuses, steps
    from chalicelib.payouts.cash_transfers import pay_cash_transfer
    from devstack import banksim

    instructions, answers = _Queue(), _Queue()
    real_send = queues.send_json
    queues.send_json = lambda short, body, delay_s=0: instructions.send_message(short, json.dumps(body))
    sim = banksim.BankSimulator(settings.stage, None, None, settings.region, settings.queue_name,
                                settings.statement_bucket, banks=PIPELINE_BANKS, seed=11)
    sim._sqs = answers  # type: ignore[assignment]
    per_bank = citizens // len(PIPELINE_BANKS)
    for bank in PIPELINE_BANKS:
        banksim.write_behaviour(settings.stage, bank, reject_share=PIPELINE_REJECT_SHARE)
        for shard in range(settings.treasury_shards):
            ledger.post(Transfer(f"fund-cash-{bank}-{shard}", accounts.BUDGET_ACCOUNT,
                                 accounts.treasury_shard(f"cash-{bank}", shard), per_bank * AMOUNT_SATANG,
                                 "phase_funding"))

    def request(i: int) -> str:
        bank = PIPELINE_BANKS[i % len(PIPELINE_BANKS)]
        return pay_cash_transfer(phase_id=f"cash-{bank}", citizen_hash=f"bench{i}",
                                 promptpay_id=f"{1_100_000_000_000 + i * 10 + 1:013d}",
                                 amount_satang=AMOUNT_SATANG, bank_code=bank, now=now).payout_id

    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            ids = list(pool.map(request, range(per_bank * len(PIPELINE_BANKS))))
        for bank in PIPELINE_BANKS:
            dispatch.dispatch_bank(bank, now)
        for body in instructions.bodies:
            sim.take(json.loads(body)["bank_code"], body)
        for bank in PIPELINE_BANKS:
            sim._flush(bank, "status-queue")
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(statuses.handle_message, answers.bodies))
        seconds = time.perf_counter() - start
    finally:
        queues.send_json = real_send
    final: dict[str, int] = {}
    for payout_id in ids:
        item = steps.get_payout(payout_id)
        status = item.status if item else "missing"
        final[status] = final.get(status, 0) + 1
    floor = len(PIPELINE_BANKS) * -(-per_bank // TRANSACTIONS_PER_MESSAGE_MAX)
    return {"citizens": len(ids), "banks": len(PIPELINE_BANKS), "settled": final.get("settled", 0),
            "rejected": final.get("rejected", 0), "payouts_per_s": round(len(ids) / seconds, 1),
            "instruction_messages": len(instructions.bodies), "status_messages": len(answers.bodies),
            "floor_messages_each_way": floor,
            "instruction_messages_per_payout": round(len(instructions.bodies) / len(ids), 4),
            "status_messages_per_payout": round(len(answers.bodies) / len(ids), 4)}


def run(endpoint: str, payouts: int = PAYOUTS_DEFAULT, pipeline: int = PIPELINE_DEFAULT, workers: int = WORKERS,
        progress: Callable[[str], None] | None = None, ddb_pid: int | None = None) -> dict[str, Any]:
    """Run the payouts benchmark against DynamoDB Local at ``endpoint``
    (``ddb_pid``: its process, whose CPU counts in the CPU ratios)."""
    import os

    from chalicelib import db
    from chalicelib.config import get_settings, rebuild
    from chalicelib.ledger import Ledger, Transfer, accounts, audit_ledger
    from chalicelib.models_index import import_all_models
    from chalicelib.payouts import steps
    from chalicelib.payouts.rules import Creditor, shard_of

    say = progress or (lambda _message: None)
    saved = dict(os.environ)
    os.environ.update({"WALLET_DYNAMODB_ENDPOINT": endpoint, "WALLET_STAGE": f"bench{uuid.uuid4().hex[:8]}",
                       # The simulated banks' books and behaviour in a folder of this run only.
                       "WALLET_DEVSTACK_DIR": tempfile.mkdtemp(prefix="bench-banks-")})
    os.environ.setdefault("WALLET_TRANSACTION_ITEM_LIMIT", "10")
    os.environ.setdefault("WALLET_ID_PEPPER", "bench-pepper-not-a-secret-000000")
    os.environ.setdefault("WALLET_DATA_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
    rebuild()
    settings = get_settings()
    db.bind_models(settings)
    meter = Meter()
    now = datetime.now(UTC)
    creditor = Creditor("Shop", "account_no", "1234567890")
    try:
        with meter.installed():
            import_all_models()  # the payouts, switches and alerts tables too
            db.bind_models(settings)
            db.create_tables()
            ledger = Ledger(settings)
            raw = _Raw(endpoint, settings.region, settings.table_name("accounts"), settings.table_name("transfers"),
                       settings.table_name("payouts"))
            shops = [f"s{i}" for i in range(workers * 4)]
            for shop in shops:
                for owner in (shop, f"raw-{shop}"):
                    ledger.post(Transfer(f"fund-{owner}", accounts.BUDGET_ACCOUNT,
                                         accounts.merchant_withdrawable(owner), 10**12, "bench_funding"))

            def app_hold(i: int) -> None:
                shop = shops[i % len(shops)]
                steps.hold(ledger, steps.NewPayout(f"wd_{i:016x}", "withdrawal", "004", AMOUNT_SATANG,
                                                   accounts.merchant_withdrawable(shop), f"merchant:{shop}",
                                                   creditor, 24), now)

            def raw_hold(i: int) -> None:
                pid = f"rw_{i:016x}"
                raw.hold(pid, accounts.merchant_withdrawable(f"raw-{shops[i % len(shops)]}"),
                         accounts.in_flight("004", shard_of(pid)))

            def app_settle(i: int) -> None:
                steps.settle(ledger, steps.get_payout(f"wd_{i:016x}"), None, now)  # type: ignore[arg-type]

            def raw_settle(i: int) -> None:
                pid = f"rw_{i:016x}"
                raw.settle(pid, accounts.in_flight("004", shard_of(pid)), accounts.paid_out("004", shard_of(pid)))

            cpu = CpuMeter(ddb_pid)
            hold = _measure("hold", app_hold, raw_hold, payouts, workers, meter, cpu, say)
            settle = _measure("settle", app_settle, raw_settle, payouts, workers, meter, cpu, say)
            say(f"a cash-transfer wave of {pipeline} citizens through {len(PIPELINE_BANKS)} banks, "
                f"{PIPELINE_REJECT_SHARE:.0%} rejected, request to settled through the simulator (in process)")
            wave = _wave(settings, ledger, pipeline, workers, now)
            report = audit_ledger()
            summary = ledger.scan_summary()  # the auditor's full scan, at quiescence
    finally:
        os.environ.clear()
        os.environ.update(saved)
        rebuild()
        db.bind_models()
    return {
        "payouts": payouts, "workers": workers, "item_limit": settings.transaction_item_limit,
        "hold": {**hold, "floor_items": 4}, "settle": {**settle, "floor_items": 5},
        "cash_transfer_wave": wave,
        "targets_met": {
            "hold_cpu_ratio": hold["cpu_ratio"] >= TARGET_RATIO,
            "settle_cpu_ratio": settle["cpu_ratio"] >= TARGET_RATIO,
            "hold_one_transaction": hold["transact_writes_per_step"] == 1.0,
            "settle_one_transaction": settle["transact_writes_per_step"] == 1.0,
            "hold_items": hold["items_per_step"] <= 4,
            "settle_items": settle["items_per_step"] <= 5,
            # Per bank ceil(n / 500) messages each way: 1/500 a payout but for each bank's last, partial one.
            "messages_per_payout": max(wave["instruction_messages"], wave["status_messages"])
            <= wave["floor_messages_each_way"],
            "every_citizen_paid_or_returned": wave["settled"] + wave["rejected"] == wave["citizens"],
            "nothing_left_in_flight": summary["in_flight_satang"] == 0,
            # The app's and the raw path's settles, and the wave's.
            "paid_out_is_what_settled": summary["paid_out_satang"]
            == (2 * payouts + wave["settled"]) * AMOUNT_SATANG,
        },
        "ledger_balanced": summary["balanced"] and report.ok,
    }
