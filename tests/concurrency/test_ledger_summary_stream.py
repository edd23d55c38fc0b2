"""The O(buckets) ledger summary kept from the balances' stream
(chalicelib/ledger/stream_summary.py), on DynamoDB Local (its stream) with
concurrent payments: exact at quiescence against the auditor's scan, a page
delivered twice counted once, whole transactions only under traffic (a
payment read in part is left out until whole, so every reading balances;
``as_of`` says how fresh), and its DynamoDB requests do not grow with the
number of accounts."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import db
from chalicelib.config import rebuild
from chalicelib.ledger import BatchCredit, Ledger, Transfer, accounts, stream_summary
from tests.invariants import drained_summary

SHARD = accounts.treasury_shard("p", 0)


def fresh_tables(monkeypatch, endpoint: str) -> Ledger:
    monkeypatch.setenv("WALLET_DYNAMODB_ENDPOINT", endpoint)
    monkeypatch.setenv("WALLET_STAGE", f"sum{uuid.uuid4().hex[:8]}")
    rebuild()
    db.bind_models()
    db.create_tables()
    ledger = Ledger()
    ledger.post_batch([accounts.BUDGET_ACCOUNT], [BatchCredit("fund", SHARD, 100_000_000)], "funding")
    return ledger


def issue(ledger: Ledger, wallets: int, amount: int = 100_000) -> list[str]:
    ids = [accounts.wallet_account(f"w{i}") for i in range(wallets)]
    for start in range(0, wallets, 4):
        ledger.post_batch([SHARD], [BatchCredit(f"iss:{w}", w, amount) for w in ids[start:start + 4]], "issuance")
    return ids


def pay_all(ledger: Ledger, wallets: list[str], rounds: int) -> None:
    def one(n: int) -> None:
        wallet = wallets[n % len(wallets)]
        ledger.post(Transfer(f"pay{n}", wallet, accounts.merchant_spendable(f"m{n % 3}"), 100, "payment"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(rounds)))


class CountedCalls:
    """DynamoDB requests (HTTP attempts) made through the shared client."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._client = db.dynamodb_client()

    def __enter__(self) -> CountedCalls:
        self._client.meta.events.register("before-send.dynamodb", self._count)
        return self

    def __exit__(self, *_: object) -> None:
        self._client.meta.events.unregister("before-send.dynamodb", self._count)

    def _count(self, request, **_: object) -> None:
        self.calls.append(request.headers.get("X-Amz-Target", b"").decode())


@pytest.mark.timeout(300)
def test_exact_at_quiescence_after_concurrent_payments(ddb_local_endpoint, monkeypatch):
    ledger = fresh_tables(monkeypatch, ddb_local_endpoint)
    wallets = issue(ledger, 20)
    pay_all(ledger, wallets, 200)
    summary = drained_summary()  # equals the full scan, bucket by bucket
    assert summary["balanced"] is True
    assert summary["merchants_spendable_satang"] == 200 * 100
    assert summary["wallets_satang"] == 20 * 100_000 - 200 * 100
    assert summary["funded_satang"] == 100_000_000
    served = ledger.summary()
    assert served["as_of"] is not None and served["lag_s"] is not None
    # Drained again with nothing new: nothing counted twice.
    assert drained_summary() == summary
    assert ledger.summary()["as_of"] >= served["as_of"]


@pytest.mark.timeout(120)
def test_a_page_delivered_twice_counts_once(ddb_local_endpoint, monkeypatch):
    ledger = fresh_tables(monkeypatch, ddb_local_endpoint)
    issue(ledger, 3)
    client, arn = stream_summary._streams_client(), stream_summary.stream_arn()
    shard = client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = client.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                         ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = client.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    state = stream_summary.ShardState(shard["ShardId"], shard.get("ParentShardId"))
    first, again = stream_summary.ShardState(**vars(state)), stream_summary.ShardState(**vars(state))
    assert stream_summary.apply_page(first, records) is True
    assert stream_summary.apply_page(again, records) is False  # redelivered: the shard moved on
    # A reader that starts over from the stored checkpoint adds nothing either.
    summary = drained_summary()
    assert summary["wallets_satang"] == 3 * 100_000 and summary["balanced"] is True


@pytest.mark.timeout(120)
def test_a_payment_read_in_part_is_left_out_until_whole(ddb_local_endpoint, monkeypatch):
    ledger = fresh_tables(monkeypatch, ddb_local_endpoint)
    wallets = issue(ledger, 2)
    before = drained_summary()
    ledger.post(Transfer("pay", wallets[0], accounts.merchant_spendable("m"), 500, "payment"))
    budget = iter([60.0, 0.0])  # the reader's time runs out after one record of the payment's two
    stream_summary.consume(lambda: next(budget, 0.0), page_limit=1)
    partial = ledger.summary()
    # One of the payment's two changes is read: neither counts yet, and what is counted balances.
    assert partial["partial_transactions"] == 1
    assert partial["balanced"] is True and partial["as_of"] is not None
    assert partial["wallets_satang"] == before["wallets_satang"]
    assert partial["merchants_spendable_satang"] == 0
    summary = drained_summary()
    assert summary["balanced"] is True and summary["merchants_spendable_satang"] == 500
    assert summary["wallets_satang"] == before["wallets_satang"] - 500
    assert ledger.summary()["partial_transactions"] == 0
    assert ledger.summary()["as_of"] >= partial["as_of"]


@pytest.mark.timeout(300)
def test_under_traffic_the_summary_says_as_of_and_is_exact_once_quiet(ddb_local_endpoint, monkeypatch):
    ledger = fresh_tables(monkeypatch, ddb_local_endpoint)
    wallets = issue(ledger, 10)
    stop = threading.Event()
    readings: list[dict] = []

    def reader() -> None:
        while not stop.is_set():
            stream_summary.consume()
            readings.append(ledger.summary())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        pay_all(ledger, wallets, 300)
    finally:
        stop.set()
        thread.join()
    assert readings and all(r["as_of"] is not None and r["lag_s"] >= 0 for r in readings)
    as_of = [r["as_of"] for r in readings]
    assert as_of == sorted(as_of)  # it only moves forward
    for reading in readings:  # every reading under traffic balances, whole transactions only
        assert reading["balanced"] is True, reading
        assert sum(reading[b] for b in accounts.SUMMARY_BUCKETS) == reading["funded_satang"]
        assert reading["merchants_spendable_satang"] % 100 == 0  # payments of 100, never a half
    assert drained_summary()["merchants_spendable_satang"] == 300 * 100


@pytest.mark.timeout(600)
def test_the_summary_requests_do_not_grow_with_the_accounts(ddb_local_endpoint, monkeypatch):
    counts = {}
    for wallets in (10, 1000):
        ledger = fresh_tables(monkeypatch, ddb_local_endpoint)
        issue(ledger, wallets)
        drained_summary()
        with CountedCalls() as counted:
            summary = ledger.summary()
        assert summary["wallets_satang"] == wallets * 100_000
        counts[wallets] = counted.calls
    assert counts[10] == counts[1000] == ["DynamoDB_20120810.Query"]
