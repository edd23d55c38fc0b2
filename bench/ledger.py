"""Ledger posts against DynamoDB Local, next to raw TransactWriteItems of the
same shape measured in the same run.

Two shapes:
- a post: the transfer record (put, ``attribute_not_exists``), the debit
  (update, ``balance >= amount``) and the credit (update);
- a batched issuance: per transaction one treasury shard debited with the
  sum and, per credited wallet, a record and a balance update.

The ledger and the raw client run in alternating rounds with the same worker
count, so that load from anything else on the machine falls on both alike;
the ratio is the median of the rounds' ratios (``bench.stats``).
Targets (issue: foundation): ledger posts/s >= 0.8 x raw; a batched issuance
writes 2 items per wallet + 1 per transaction, transactions filled to the
configured item limit.
"""
from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from bench.cpu import CpuMeter
from bench.meter import Meter, add_snapshot, empty_snapshot
from bench.stats import Rounds, in_turn

__all__ = ["run", "POSTS_DEFAULT", "TARGET_RATIO"]

# 150 posts a round each way (about a second of the emulator's CPU): with
# 8 rounds of 75 the posts' CPU ratio moved 0.96-1.06 between three runs,
# the emulator's JIT compilations falling on one path or the other
# (kept out of the count since: bench.cpu); 20 rounds of 150 gave
# 0.92-1.05 over six runs, some beside make test (a neighbour's load on
# the host moves a path's CPU time by several percent a round): 40 now.
# Issuance likewise, 200 wallets a round each way (60 moved it 0.90-0.96).
POSTS_DEFAULT = 6_000
WARM_UP_POSTS = 1_000
ISSUANCE_WALLETS_DEFAULT = 4_000
WORKERS = 4
ROUNDS = 20
POST_ROUNDS = 40
MERCHANTS = 50
AMOUNT_SATANG = 100
WALLET_SATANG = 10_000
TARGET_RATIO = 0.8


def _issue(ledger: Any, shards: list[str], group: list[Any]) -> Any:
    return ledger.post_batch(shards, group, "issuance")


def _timed(workers: int, jobs: Sequence[Any], fn: Callable[[Any], None]) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fn, jobs))
    return time.perf_counter() - start


class _Raw:
    """boto3 TransactWriteItems of exactly the ledger's shapes, nothing else."""

    def __init__(self, endpoint: str, accounts_table: str, transfers_table: str, region: str) -> None:
        self.client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
        self.accounts = accounts_table
        self.transfers = transfers_table

    def _record(self, transfer_id: str, debit: str, credit: str, amount: int) -> dict[str, Any]:
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        return {"Put": {
            "TableName": self.transfers,
            "Item": {"transfer_id": {"S": transfer_id}, "kind": {"S": "payment"},
                     "debit_account": {"S": debit}, "credit_account": {"S": credit},
                     "amount_satang": {"N": str(amount)}, "state": {"S": "posted"},
                     "created_at": {"S": now}, "history_sort": {"S": f"{now}#{transfer_id}"},
                     "debit_history": {"S": debit}, "credit_history": {"S": credit}},
            "ConditionExpression": "attribute_not_exists(transfer_id)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}

    def _update(self, account: str, delta: int, kind: str, covers: int | None, tally: str | None) -> dict[str, Any]:
        # The same attributes as the ledger's update: the balance and, for a wallet, its tally of the other side.
        adds = "ADD balance_satang :d" + (f", {tally} :t" if tally else "")
        values = {":d": {"N": str(delta)}, ":k": {"S": kind}} | ({":t": {"N": str(abs(delta))}} if tally else {})
        update: dict[str, Any] = {
            "TableName": self.accounts, "Key": {"account_id": {"S": account}},
            "UpdateExpression": f"{adds} SET kind = if_not_exists(kind, :k)",
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        if covers is not None:
            update["ConditionExpression"] = "balance_satang >= :a"
            update["ExpressionAttributeValues"][":a"] = {"N": str(covers)}
        return {"Update": update}

    def post(self, transfer_id: str, debit: str, credit: str, amount: int) -> None:
        self.client.transact_write_items(TransactItems=[
            self._record(transfer_id, debit, credit, amount),
            self._update(debit, -amount, "wallet", amount, "out_merchant_spendable_satang"),
            self._update(credit, amount, "merchant_spendable", None, None),
        ])

    def batch(self, source: str, credits: Sequence[tuple[str, str, int]]) -> None:
        items = [self._record(tid, source, wallet, amount) for tid, wallet, amount in credits]
        items += [self._update(wallet, amount, "wallet", None, "in_treasury_satang") for _, wallet, amount in credits]
        total = sum(amount for _, _, amount in credits)
        items.append(self._update(source, -total, "treasury", total, None))
        self.client.transact_write_items(TransactItems=items)


def _per(count: int, value: float) -> float:
    return round(value / count, 3) if count else 0.0


def run(endpoint: str, posts: int = POSTS_DEFAULT, wallets: int = ISSUANCE_WALLETS_DEFAULT,
        workers: int = WORKERS, progress: Callable[[str], None] | None = None,
        ddb_pid: int | None = None) -> dict[str, Any]:
    """Run the ledger benchmark against DynamoDB Local at ``endpoint``
    (``ddb_pid``: its process, whose CPU is counted with this one's)."""
    import os

    from chalicelib import db
    from chalicelib.config import get_settings, rebuild
    from chalicelib.ledger import BatchCredit, Ledger, Transfer, accounts, audit_ledger

    say = progress or (lambda _message: None)
    cpu = CpuMeter(ddb_pid)
    saved = dict(os.environ)
    os.environ.update({"WALLET_DYNAMODB_ENDPOINT": endpoint, "WALLET_STAGE": f"bench{uuid.uuid4().hex[:8]}"})
    os.environ.setdefault("WALLET_TRANSACTION_ITEM_LIMIT", "10")
    rebuild()
    settings = get_settings()
    db.bind_models(settings)
    meter = Meter()
    try:
        with meter.installed():
            db.create_tables()
            ledger = Ledger(settings)
            raw = _Raw(endpoint, settings.table_name("accounts"), settings.table_name("transfers"), settings.region)
            shards = [accounts.treasury_shard("bench", i) for i in range(settings.treasury_shards)]
            # Every shard could cover the whole run: the budget is not what is measured.
            paying = posts + WARM_UP_POSTS  # wallets a path pays from
            per_shard = (2 * paying + 2 * wallets) * WALLET_SATANG
            ledger.post_batch([accounts.BUDGET_ACCOUNT],
                              [BatchCredit(f"fund:{s}", s, per_shard) for s in shards], "funding")
            say(f"funding {2 * paying} paying wallets")
            ledger.post_batch(shards, [BatchCredit(f"seed:{i}", accounts.wallet_account(f"p{i}"), WALLET_SATANG)
                                       for i in range(2 * paying)], "issuance")

            def ledger_post(i: int) -> None:
                ledger.post(Transfer(f"lp{i}", accounts.wallet_account(f"p{i}"),
                                     accounts.merchant_spendable(f"m{i % MERCHANTS}"), AMOUNT_SATANG, "payment"))

            def raw_post(i: int) -> None:
                raw.post(f"rp{i}", accounts.wallet_account(f"p{paying + i}"),
                         accounts.merchant_spendable(f"m{i % MERCHANTS}"), AMOUNT_SATANG)

            # Untimed, both paths: the emulator compiles what each one uses
            # before either is measured (the issuance above exercises neither).
            say(f"warming DynamoDB Local up: {WARM_UP_POSTS} posts each way, untimed")
            _timed(workers, range(WARM_UP_POSTS), ledger_post)
            _timed(workers, range(WARM_UP_POSTS), raw_post)
            say(f"{posts} ledger posts and {posts} raw transactions, {workers} workers, {POST_ROUNDS} rounds")
            ledger_s = raw_s = 0.0
            ledger_cost = empty_snapshot()
            post_rounds = Rounds()
            slices = [range(WARM_UP_POSTS + r * posts // POST_ROUNDS, WARM_UP_POSTS + (r + 1) * posts // POST_ROUNDS)
                      for r in range(POST_ROUNDS)]
            for r, part in enumerate(slices):
                def ledger_round(part: range = part) -> float:
                    meter.reset()
                    with cpu.measure("post"):
                        seconds = _timed(workers, part, ledger_post)
                    add_snapshot(ledger_cost, meter.snapshot())
                    return seconds

                def raw_round(part: range = part) -> float:
                    with cpu.measure("raw_post"):
                        return _timed(workers, part, raw_post)

                ledger_round_s, raw_round_s = in_turn(r, ledger_round, raw_round)
                raw_s, ledger_s = raw_s + raw_round_s, ledger_s + ledger_round_s
                post_rounds.add(len(part), ledger_round_s, len(part), raw_round_s)

            per_tx = (settings.transaction_item_limit - 1) // 2
            say(f"batched issuance of {wallets} wallets, ledger and raw")
            credits = [BatchCredit(f"iss:{i}", accounts.wallet_account(f"i{i}"), WALLET_SATANG,
                                   credit_sets={"status": "active"}) for i in range(wallets)]
            groups = [credits[k:k + per_tx * 5] for k in range(0, wallets, per_tx * 5)]
            raw_groups = [[(f"riss:{i}", accounts.wallet_account(f"r{i}"), WALLET_SATANG)
                           for i in range(k, min(k + per_tx, wallets))] for k in range(0, wallets, per_tx)]
            raw_pairs = list(enumerate(raw_groups))
            # Alternating rounds, as for posts: the emulator's JIT and the
            # machine's other load fall on both alike.
            batch_s = raw_batch_s = 0.0
            batch_cost = empty_snapshot()
            batch_rounds = Rounds()
            for r in range(ROUNDS):
                mine, theirs = groups[r::ROUNDS], raw_pairs[r::ROUNDS]

                def batch_round(mine: list[list[BatchCredit]] = mine) -> float:
                    meter.reset()
                    with cpu.measure("issuance"):
                        seconds = _timed(workers, mine, functools.partial(_issue, ledger, shards))
                    add_snapshot(batch_cost, meter.snapshot())
                    return seconds

                def raw_batch_round(theirs: list[Any] = theirs) -> float:
                    with cpu.measure("raw_issuance"):
                        return _timed(workers, theirs,
                                      lambda pair: raw.batch(shards[pair[0] % len(shards)], pair[1]))

                round_s, raw_round_s = in_turn(r, batch_round, raw_batch_round)
                batch_s, raw_batch_s = batch_s + round_s, raw_batch_s + raw_round_s
                batch_rounds.add(sum(len(g) for g in mine), round_s, sum(len(p[1]) for p in theirs), raw_round_s)
            report = audit_ledger()
            summary = ledger.scan_summary()  # the auditor's full scan, at quiescence
    finally:
        os.environ.clear()
        os.environ.update(saved)
        rebuild()
        db.bind_models()

    tx_requests = ledger_cost["requests"].get("TransactWriteItems", 0)
    post_rate = posts / ledger_s
    raw_rate = posts / raw_s
    batch_tx = batch_cost["requests"].get("TransactWriteItems", 0)
    batch_items = batch_cost["items"].get("TransactWriteItems", 0)
    items_per_wallet = batch_items / wallets
    target_per_wallet = 2 + 1 / per_tx
    batch_rate = wallets / batch_s
    raw_batch_rate = wallets / raw_batch_s
    post_ratio, batch_ratio = post_rounds.median_ratio(), batch_rounds.median_ratio()
    post_cpu_ratio = cpu.ratio("post", posts, "raw_post", posts)
    raw_wallets = sum(len(group) for group in raw_groups)
    batch_cpu_ratio = cpu.ratio("issuance", wallets, "raw_issuance", raw_wallets)
    return {
        "item_limit": settings.transaction_item_limit,
        "workers": workers,
        "posts": {
            "count": posts,
            "ledger_per_s": round(post_rate, 1),
            "raw_per_s": round(raw_rate, 1),
            "ratio": round(post_ratio, 3),
            "ratio_rounds": post_rounds.summary(),
            "cpu_ratio": round(post_cpu_ratio, 3),
            "cpu_ms_per_post": cpu.per_op_ms("post", posts),
            "raw_cpu_ms_per_post": cpu.per_op_ms("raw_post", posts),
            "requests_per_post": _per(posts, sum(ledger_cost["requests"].values())),
            "transact_writes_per_post": _per(posts, tx_requests),
            "items_written_per_post": _per(posts, ledger_cost["items"].get("TransactWriteItems", 0)),
            "write_units_per_post": _per(posts, ledger_cost["write_units"]),
            "read_units_per_post": _per(posts, ledger_cost["read_units"]),
            "raw_items_per_post": 3,
        },
        "issuance": {
            "wallets": wallets,
            "ledger_credits_per_s": round(batch_rate, 1),
            "raw_credits_per_s": round(raw_batch_rate, 1),
            "ratio": round(batch_ratio, 3),
            "ratio_rounds": batch_rounds.summary(),
            "cpu_ratio": round(batch_cpu_ratio, 3),
            "cpu_ms_per_wallet": cpu.per_op_ms("issuance", wallets),
            "raw_cpu_ms_per_wallet": cpu.per_op_ms("raw_issuance", raw_wallets),
            "transactions": batch_tx,
            "items_per_transaction": round(batch_items / batch_tx, 2) if batch_tx else 0.0,
            "items_per_wallet": round(items_per_wallet, 3),
            "target_items_per_wallet": round(target_per_wallet, 3),
            "write_units_per_wallet": _per(wallets, batch_cost["write_units"]),
        },
        "targets_met": {
            # On CPU per operation (this process and DynamoDB Local): the wall
            # clock ratio, beside it, swings with whatever else the machine runs.
            "post_cpu_ratio": post_cpu_ratio >= TARGET_RATIO,
            "issuance_cpu_ratio": batch_cpu_ratio >= TARGET_RATIO,
            "items_per_wallet": items_per_wallet <= target_per_wallet + 1e-9,
            "filled_transactions": batch_tx == -(-wallets // per_tx),
        },
        "ledger_balanced": summary["balanced"] and report.ok,
    }
