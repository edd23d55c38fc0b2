"""Activation credits per second on DynamoDB Local, what each credited
wallet costs in written items, and how close that comes to raw
``TransactWriteItems`` of the same shape in the same run.

``run(endpoint, citizens)`` seeds ``citizens`` accepted registrations of one
wave on a fresh stage of the DynamoDB Local at ``endpoint`` (10 items per
transaction), funds the treasury, then times the whole activation: the
planner's dispatch and every bucket's message, worked by ``WORKERS`` threads
as Lambda would work the queue concurrently (the queue itself is in memory:
the figure is DynamoDB work, not moto's SQS). Written items are counted with
a botocore event hook on every client made meanwhile
(``bench.meter.dynamodb_hooks``), so they are what was really sent.

Before timing, DynamoDB Local is warmed up with an untimed run of each
path (its JVM compiles the hot paths during the first thousands of
requests; unwarmed, whichever path runs first is measured slower). The
activation uses more of the emulator (queries of registrations, counters)
than raw transactions do, so the warm-up is 3,000 credits: with 1,000 its
CPU per credit still fell during the timed run, and the ratio swung
0.79-0.93 between runs.

Each of the ``WAVES`` timed waves is then worked in ``ROUNDS`` rounds that
alternate with raw rounds of the same number of credits
(``bench.stats.in_turn``): the planner dispatches a wave's 64 bucket
messages once, and each round works its share of them, as Lambda takes a
queue's messages over time.
One wave timed between two halves of raw transactions gave CPU ratios
0.87, 1.02 and 0.85 in three runs while ``make test`` ran beside them: a
load that changes within seconds falls on a 7-second wave and not on the
raw halves, or the other way round; rounds of a second each share it.

Targets: 2 items per credited wallet (its transfer record and its balance)
plus 1 per transaction (the treasury shard), transactions filled to the
limit except the last of each of the 64 buckets; credits per second at least 0.8 of raw transactions of the same shape
(1 shard update + 4 x (put record + update wallet)) in the same run.
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from bench.cpu import CpuMeter
from bench.meter import dynamodb_hooks
from bench.stats import Rounds, in_turn

__all__ = ["run", "WriteCounter", "CITIZENS_DEFAULT", "WORKERS", "TARGET_RATIO"]

CITIZENS_DEFAULT = 10_000  # a wave's
WORKERS = 8
# 8 bucket messages a round, one for each worker (ACTIVATION_BUCKETS / ROUNDS),
# over two waves: with one wave of 8 rounds, one round whose emulator CPU
# doubled moved the ratio from 0.90 to 0.83 in the next run.
ROUNDS = 8
WAVES = 2
AMOUNT_SATANG = 1_000_000
PHASE_ID = "bench-act"
WARM_UP_PHASE_ID = "bench-warm"
WARM_UP_CITIZENS = 3_000
TARGET_RATIO = 0.8
# Per late registrant: one write removing the mark plus shares of an index
# page, an existence read and a ledger transaction (4 credits a transaction
# at DynamoDB Local's 10 items), the run list and the phase read per message.
LATE_REQUESTS_PER_CREDIT_MAX = 2.0
_WRITE_OPS = ("TransactWriteItems", "PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem")


class WriteCounter:
    """DynamoDB requests and items by operation, of every client made while installed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        self.transaction_sizes: Counter[int] = Counter()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.items.clear()
            self.transaction_sizes.clear()

    def _on_params(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        name = model.name
        if name == "TransactWriteItems":
            count = len(params.get("TransactItems", []))
        elif name in ("BatchWriteItem", "BatchGetItem"):
            count = sum(len(v if isinstance(v, list) else v.get("Keys", []))
                        for v in params.get("RequestItems", {}).values())
        else:
            count = 1
        context["bench_items"] = count
        with self._lock:
            self.requests[name] += 1

    def _on_response(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        """Items count when DynamoDB accepted the call: a transaction
        cancelled by a conflict and retried wrote nothing."""
        if http_response is None or http_response.status_code != 200:
            return
        name, count = model.name, int(context.get("bench_items", 1))
        with self._lock:
            self.items[name] += count
            if name == "TransactWriteItems":
                self.transaction_sizes[count] += 1

    @contextmanager
    def installed(self) -> Iterator[WriteCounter]:
        with dynamodb_hooks({"before-parameter-build.dynamodb": self._on_params,
                             "after-call.dynamodb": self._on_response}):
            yield self


@contextmanager
def _stage(endpoint: str) -> Iterator[Any]:
    """A fresh stage on ``endpoint`` in os.environ, models bound to it."""
    from chalicelib import db
    from chalicelib.config import get_settings, rebuild
    from chalicelib.models_index import import_all_models
    from devstack import env

    saved = dict(os.environ)
    os.environ.update(env.local_environment(endpoint, None, stage=f"bact{uuid.uuid4().hex[:8]}"))
    rebuild()
    import_all_models()
    db.bind_models()
    try:
        yield get_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        rebuild()
        db.bind_models()


def _seed(citizens: int, phase_id: str = PHASE_ID) -> list[str]:
    """Accepted registrations of one wave, as registration writes them."""
    from chalicelib.clock import iso, utcnow
    from chalicelib.config import get_settings
    from chalicelib.eligibility import assign_bucket, wallet_id_for
    from chalicelib.ledger import BatchCredit, Ledger, accounts
    from chalicelib.limits import ACTIVATION_BUCKETS
    from chalicelib.registration.models import RegistrationModel, registration_key, wave_bucket_key

    now = iso(utcnow())
    wallets = []
    with RegistrationModel.batch_write() as batch:
        for i in range(citizens):
            citizen = f"bench-citizen-{i:07d}"
            wallet_id = wallet_id_for(phase_id, citizen)
            bucket = assign_bucket(phase_id, citizen, ACTIVATION_BUCKETS)
            batch.save(RegistrationModel(
                registration_key(phase_id, citizen), registration_id=f"r{i}", phase_id=phase_id,
                citizen_hash=citizen, status="accepted", wave=1, wave_key=wave_bucket_key(phase_id, 1, bucket),
                wallet_id=wallet_id, created_at=now))
            wallets.append(wallet_id)
    # Every shard could cover the whole wave, as for the raw run: shards
    # that run dry hand chunks on to the next one (a failed transaction
    # each), which is the end of a budget, not the rate of activation.
    shards = get_settings().treasury_shards
    per = citizens * AMOUNT_SATANG
    Ledger().post_batch([accounts.BUDGET_ACCOUNT],
                        [BatchCredit(f"fund:{phase_id}:{i}", accounts.treasury_shard(phase_id, i), per)
                         for i in range(shards)], "funding")
    return wallets


def _definition(start: Any) -> dict[str, Any]:
    from chalicelib.clock import iso

    return {"kind": "wallet", "amount_satang": AMOUNT_SATANG,
            "registration_closes_at": iso(start - timedelta(hours=1)),
            "waves": [{"activate_at": iso(start - timedelta(minutes=1))}], "expires_after_days": 180}


class _Wave:
    """One wave of ``phase_id``: its bucket messages, dispatched once by the
    planner and then worked a share at a time by ``workers`` threads, as
    Lambda works the activation queue (in memory here: the figure is
    DynamoDB work, not moto's SQS)."""

    def __init__(self, workers: int, phase_id: str = PHASE_ID) -> None:
        from chalicelib.activation.source import MemoryPhaseSource
        from chalicelib.clock import utcnow

        self._workers = workers
        self._now = utcnow()
        self._source = MemoryPhaseSource({phase_id: _definition(self._now)})
        self._lock = threading.Lock()
        self._queue: list[dict[str, Any]] = []

    def _send(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._queue.append(body)

    def dispatch(self) -> None:
        """The scheduled job's dispatch of the wave: its messages queued."""
        from chalicelib.activation import service

        service.run_schedule(now=self._now, source=self._source, send=self._send)

    def work(self, messages: int | None = None) -> int:
        """Work the next ``messages`` queued messages (``None``: every one,
        continuations included); a continuation they send waits its turn
        behind them. Returns the wallets credited."""
        from chalicelib.activation import service
        from chalicelib.activation.plan import WorkItem

        with self._lock:
            count = len(self._queue) if messages is None else min(messages, len(self._queue))
            mine, self._queue[:count] = self._queue[:count], []
        drain = messages is None

        def take() -> dict[str, Any] | None:
            with self._lock:
                if mine:
                    return mine.pop(0)
                return self._queue.pop(0) if drain and self._queue else None

        def worker(_: int) -> int:
            credited = 0
            while (body := take()) is not None:
                credited += service.handle_work_item(WorkItem.from_body(body), source=self._source,
                                                     send=self._send)["credited"]
            return credited

        with ThreadPoolExecutor(self._workers) as pool:
            return sum(pool.map(worker, range(self._workers)))


def _activate(workers: int, phase_id: str = PHASE_ID) -> tuple[float, int]:
    """Dispatch the wave and work all its messages; returns (seconds, credited)."""
    start = time.perf_counter()
    wave = _Wave(workers, phase_id)
    wave.dispatch()
    credited = wave.work()
    return time.perf_counter() - start, credited


def _seed_late(count: int, phase_id: str = PHASE_ID) -> list[str]:
    """Registrations accepted after the wave's time, marked as registration
    marks them (chalicelib/rolling.py), a little over the margin ago, so
    that one pass credits each and removes its mark."""
    from chalicelib import rolling
    from chalicelib.clock import iso, utcnow
    from chalicelib.eligibility import assign_bucket, wallet_id_for
    from chalicelib.limits import ACTIVATION_BUCKETS
    from chalicelib.registration.models import RegistrationModel, registration_key, wave_bucket_key

    accepted_at = iso(utcnow() - timedelta(seconds=rolling.MARGIN_S + 1))
    wallets = []
    with RegistrationModel.batch_write() as batch:
        for i in range(count):
            citizen = f"bench-late-{i:07d}"
            wallet_id = wallet_id_for(phase_id, citizen)
            bucket = assign_bucket(phase_id, citizen, ACTIVATION_BUCKETS)
            batch.save(RegistrationModel(
                registration_key(phase_id, citizen), registration_id=f"late{i}", phase_id=phase_id,
                citizen_hash=citizen, status="accepted", wave=1, wave_key=wave_bucket_key(phase_id, 1, bucket),
                wallet_id=wallet_id, created_at=accepted_at,
                due_key=rolling.due_key(phase_id, assign_bucket(phase_id, citizen, rolling.SHARDS))))
            wallets.append(wallet_id)
    return wallets


def _late(workers: int, phase_id: str = PHASE_ID) -> tuple[float, int]:
    """One round of late messages (one per shard of the marks), worked by
    ``workers`` threads; returns (seconds, credited)."""
    from chalicelib.activation import service
    from chalicelib.activation.plan import PhasePlan, late_items
    from chalicelib.activation.source import MemoryPhaseSource
    from chalicelib.clock import utcnow

    definition = _definition(utcnow())
    source = MemoryPhaseSource({phase_id: definition})
    items = late_items(PhasePlan.from_definition(phase_id, definition))

    def one(item: Any) -> int:
        return int(service.handle_work_item(item, source=source, send=lambda body: None)["credited"])

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        credited = sum(pool.map(one, items))
    return time.perf_counter() - start, credited


def _fund_raw(phase_id: str, wallets: int) -> str:
    """Fund the treasury shards of the raw path (each could cover all
    ``wallets``, as for the app's wave), untimed; returns its source phase."""
    from chalicelib.config import get_settings
    from chalicelib.ledger import BatchCredit, Ledger, accounts

    source_phase = f"{phase_id}-raw"
    Ledger().post_batch([accounts.BUDGET_ACCOUNT],
                        [BatchCredit(f"fund:{source_phase}:{i}", accounts.treasury_shard(source_phase, i),
                                     wallets * AMOUNT_SATANG) for i in range(get_settings().treasury_shards)],
                        "funding")
    return source_phase


def _raw(wallets: range, workers: int, item_limit: int, source_phase: str) -> tuple[float, int]:
    """The same writes straight through boto3: per transaction one treasury
    shard update (conditional) and, per credit, a record put and a wallet
    update; no index reads, no counters. The shard is chosen and conflicts
    are retried as the ledger does (stable hash of the first transfer id,
    the ledger's jittered retries), so that the two differ by the code path
    alone. Credits ``wallets`` (indexes) from ``source_phase``'s shards
    (``_fund_raw``); returns (seconds, credits)."""
    import boto3
    from botocore.exceptions import ClientError

    from chalicelib import db
    from chalicelib.clock import iso, utcnow
    from chalicelib.config import get_settings
    from chalicelib.ledger import accounts
    from chalicelib.ledger.batch import stable_index

    settings = get_settings()
    client = boto3.client("dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint)
    per_tx = (item_limit - 1) // 2
    shards = settings.treasury_shards
    accounts_table, transfers_table = settings.table_name("accounts"), settings.table_name("transfers")
    chunks = [list(wallets[k:k + per_tx]) for k in range(0, len(wallets), per_tx)]
    amount = {"N": str(AMOUNT_SATANG)}
    expires = iso(utcnow() + timedelta(days=180))
    lock = threading.Lock()

    def take() -> list[int] | None:
        with lock:
            return chunks.pop() if chunks else None

    def worker(w: int) -> int:
        done = 0
        while (chunk := take()) is not None:
            now = iso(utcnow())
            shard = accounts.treasury_shard(source_phase, stable_index(f"raw:{source_phase}:{chunk[0]}", shards))
            tx: list[dict[str, Any]] = []
            for i in chunk:
                tid, wallet = f"raw:{source_phase}:{i}", accounts.wallet_account(f"raw{i}")
                tx.append({"Put": {"TableName": transfers_table,
                                   "ConditionExpression": "attribute_not_exists(transfer_id)",
                                   "Item": {"transfer_id": {"S": tid}, "kind": {"S": "raw"}, "amount_satang": amount,
                                            "debit_account": {"S": shard}, "credit_account": {"S": wallet},
                                            "state": {"S": "posted"}, "created_at": {"S": now},
                                            "history_sort": {"S": f"{now}#{tid}"}, "credit_history": {"S": wallet}}}})
                tx.append({"Update": {"TableName": accounts_table, "Key": {"account_id": {"S": wallet}},
                                      "UpdateExpression": "ADD balance_satang :amt, in_treasury_satang :amt "
                                                          "SET #k = if_not_exists(#k, :kind), "
                                                          "#s = :active, expires_at = :exp",
                                      "ExpressionAttributeNames": {"#k": "kind", "#s": "status"},
                                      "ExpressionAttributeValues": {":amt": amount, ":kind": {"S": "wallet"},
                                                                    ":active": {"S": "active"},
                                                                    ":exp": {"S": expires}}}})
            total = {"N": str(AMOUNT_SATANG * len(chunk))}
            tx.append({"Update": {"TableName": accounts_table, "Key": {"account_id": {"S": shard}},
                                  "UpdateExpression": "ADD balance_satang :neg",
                                  "ConditionExpression": "balance_satang >= :total",
                                  "ExpressionAttributeValues": {":neg": {"N": f"-{total['N']}"}, ":total": total}}})
            budget = db.RetryBudget("raw")
            while True:
                try:
                    client.transact_write_items(TransactItems=tx)
                    break
                except ClientError as exc:
                    if not db.is_transient(exc):
                        raise
                    budget.wait(exc)
            done += len(chunk)
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        credited = sum(pool.map(worker, range(workers)))
    return time.perf_counter() - start, credited


def run(endpoint: str, citizens: int = CITIZENS_DEFAULT, workers: int = WORKERS,
        progress: Callable[[str], None] | None = None, ddb_pid: int | None = None) -> dict[str, Any]:
    """Run the activation benchmark against DynamoDB Local at ``endpoint``;
    returns its figures (see the module doc)."""
    from chalicelib import db
    from chalicelib.activation.progress import totals
    from chalicelib.ledger import Ledger
    from chalicelib.limits import ACTIVATION_BUCKETS

    say = progress or (lambda _message: None)
    counter = WriteCounter()
    cpu = CpuMeter(ddb_pid)
    with _stage(endpoint) as settings, counter.installed():
        db.create_tables()
        # DynamoDB Local's JVM compiles its hot paths during the first
        # thousands of requests: both paths are run once, untimed, so that
        # neither is measured on a colder emulator than the other.
        say(f"warming DynamoDB Local up: {WARM_UP_CITIZENS} credits each way, untimed")
        _seed(WARM_UP_CITIZENS, WARM_UP_PHASE_ID)
        _activate(workers, WARM_UP_PHASE_ID)
        _raw(range(WARM_UP_CITIZENS), workers, settings.transaction_item_limit,
             _fund_raw(WARM_UP_PHASE_ID, WARM_UP_CITIZENS))
        phases = [PHASE_ID] + [f"{PHASE_ID}-{w}" for w in range(1, WAVES)]
        total = WAVES * citizens
        say(f"seeding {WAVES} waves of {citizens} accepted registrations and the treasury")
        for phase in phases:
            _seed(citizens, phase)
        raw_phase = _fund_raw(PHASE_ID, total)
        # The raw wallets are new items, as the wave's are (past the warm-up's).
        raw_wallets = range(WARM_UP_CITIZENS, WARM_UP_CITIZENS + total)
        waves = [_Wave(workers, phase) for phase in phases]
        all_rounds, per_round = WAVES * ROUNDS, -(-ACTIVATION_BUCKETS // ROUNDS)
        rounds, cpu_rounds = Rounds(), Rounds()
        credited_by_phase: Counter[str] = Counter()
        writes: dict[str, Counter[Any]] = {"requests": Counter(), "items": Counter(), "sizes": Counter()}
        say(f"activating {WAVES} waves of {citizens}, each in {ROUNDS} rounds of {per_round} bucket messages, "
            f"{workers} workers, each round beside raw TransactWriteItems of the same shape")
        for r in range(all_rounds):
            step, wave, phase = r % ROUNDS, waves[r // ROUNDS], phases[r // ROUNDS]
            share = raw_wallets[r * total // all_rounds:(r + 1) * total // all_rounds]

            def app_round(step: int = step, wave: _Wave = wave, phase: str = phase) -> tuple[float, int]:
                counter.reset()
                start = time.perf_counter()
                with cpu.measure("activation"):
                    if step == 0:
                        wave.dispatch()
                    done = wave.work(None if step == ROUNDS - 1 else per_round)
                seconds = time.perf_counter() - start
                writes["requests"].update(counter.requests)
                writes["items"].update(counter.items)
                writes["sizes"].update(counter.transaction_sizes)
                credited_by_phase[phase] += done
                return seconds, done

            def raw_round(share: range = share) -> tuple[float, int]:
                with cpu.measure("raw"):
                    return _raw(share, workers, settings.transaction_item_limit, raw_phase)

            cpu_before = cpu.seconds("activation"), cpu.seconds("raw")
            (round_s, done), (raw_round_s, raw_done) = in_turn(r, app_round, raw_round)
            rounds.add(done, round_s, raw_done, raw_round_s)
            cpu_rounds.add(done, cpu.seconds("activation") - cpu_before[0],
                           raw_done, cpu.seconds("raw") - cpu_before[1])
        act_s, credited = rounds.app_totals()
        raw_s, raw_credits = rounds.raw_totals()
        tx_items = writes["items"]["TransactWriteItems"]
        transactions = writes["requests"]["TransactWriteItems"]
        other_writes = sum(writes["items"][op] for op in _WRITE_OPS if op != "TransactWriteItems")
        requests = dict(writes["requests"])
        sizes = dict(writes["sizes"])
        late_count = max(1, citizens // 10)
        say(f"{late_count} citizens accepted after the wave's time: credited by their marks")
        _seed_late(late_count)
        counter.reset()
        late_s, late_credited = _late(workers)
        late_requests = dict(counter.requests)
        late_items = sum(counter.items[op] for op in _WRITE_OPS)
        late_tx = counter.requests["TransactWriteItems"]
        counters_ok = totals(PHASE_ID)["credited_count"] == credited_by_phase[PHASE_ID] + late_credited \
            and all(totals(phase)["credited_count"] == credited_by_phase[phase] for phase in phases[1:])
        balanced = Ledger().scan_summary()["balanced"]  # the auditor's full scan
        per_tx = (settings.transaction_item_limit - 1) // 2
    rate = credited / act_s if act_s else 0.0
    raw_rate = raw_credits / raw_s if raw_s else 0.0
    per_wallet = tx_items / credited if credited else 0.0
    # 2 per wallet plus the shard once per transaction, transactions full;
    # each bucket's last transaction takes what is left of the bucket.
    target_per_wallet = 2 + 1 / per_tx + (WAVES * ACTIVATION_BUCKETS / credited if credited else 0.0)
    ratio = rounds.median_ratio()
    cpu_ratio = cpu.ratio("activation", credited, "raw", raw_credits)
    return {
        "citizens": total,
        "waves": WAVES,
        "workers": workers,
        "transaction_item_limit": settings.transaction_item_limit,
        "activation": {
            "credited": credited, "seconds": round(act_s, 3), "credits_per_s": round(rate, 1),
            "transactions": transactions, "transaction_sizes": sizes,
            "transaction_items_per_wallet": round(per_wallet, 3),
            "other_written_items_per_wallet": round(other_writes / credited, 3) if credited else 0.0,
            "requests_by_operation": requests,
            "counters_match": counters_ok,
        },
        # Late registrants: what crediting one costs (index page share,
        # existence read share, batched ledger transaction share, the
        # mark's removal), next to the wave's batched figures above.
        "late_registrants": {
            "credited": late_credited, "seconds": round(late_s, 3),
            "requests_per_credit": round(sum(late_requests.values()) / late_credited, 3) if late_credited else 0.0,
            "written_items_per_credit": round(late_items / late_credited, 3) if late_credited else 0.0,
            "transactions_per_credit": round(late_tx / late_credited, 3) if late_credited else 0.0,
            "requests_by_operation": late_requests,
        },
        "raw_transact_write": {"credits": raw_credits, "seconds": round(raw_s, 3),
                               "credits_per_s": round(raw_rate, 1),
                               "items_per_transaction": 2 * per_tx + 1},
        "ratio_to_raw": round(ratio, 3),
        "ratio_rounds": rounds.summary(),
        "cpu_ratio": round(cpu_ratio, 3),
        "cpu_ratio_rounds": cpu_rounds.summary(),
        "cpu_ms_per_credit": cpu.per_op_ms("activation", credited),
        "raw_cpu_ms_per_credit": cpu.per_op_ms("raw", raw_credits),
        "targets": {
            "transaction_items_per_wallet_max": round(target_per_wallet, 3), "ratio_min": TARGET_RATIO,
            # O(1) per late registrant: a fixed handful of requests each
            # (2 written items of the credit, a share of the shard, the mark).
            "late_requests_per_credit_max": LATE_REQUESTS_PER_CREDIT_MAX,
            "met": bool(credited == total and 2 < per_wallet <= target_per_wallet + 1e-9
                        and cpu_ratio >= TARGET_RATIO and late_credited == late_count
                        and sum(late_requests.values()) <= LATE_REQUESTS_PER_CREDIT_MAX * late_credited),
        },
        "ledger_balanced": balanced,
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8123",
                         int(sys.argv[2]) if len(sys.argv) > 2 else CITIZENS_DEFAULT, progress=print), indent=2))
