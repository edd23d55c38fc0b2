"""The ledger summary counts whole transactions only (stream_summary.legs,
hold, partial): a transaction whose balance changes were read in part, on
one shard or across shards, is left out until the rest is read."""
from __future__ import annotations

from chalicelib.ledger import accounts, stream_summary

WALLET = accounts.wallet_account("w1")
SHOP = accounts.merchant_spendable("m1")
SHARD = accounts.treasury_shard("p", 0)


def record(account_id: str, old: int, new: int, tx: str | None, seq: int = 1) -> dict:
    image = {"account_id": {"S": account_id}, "balance_satang": {"N": str(new)}}
    if tx is not None:
        image[accounts.LAST_TX] = {"S": tx}
    return {"dynamodb": {"Keys": {"account_id": {"S": account_id}}, "SequenceNumber": str(seq),
                         "OldImage": {"account_id": {"S": account_id}, "balance_satang": {"N": str(old)}},
                         "NewImage": image}}


def test_a_payment_read_whole_on_one_shard_is_not_held():
    page = [record(WALLET, 1000, 500, "t1"), record(SHOP, 0, 500, "t1")]
    assert stream_summary.hold({}, page) == {}


def test_a_payment_split_between_two_pages_is_held_then_released():
    held = stream_summary.hold({}, [record(WALLET, 1000, 500, "t1")])
    assert held == {"t1": {"wallets_satang": -500}}
    assert stream_summary.partial([held]) == held
    assert stream_summary.hold(held, [record(SHOP, 0, 500, "t1")]) == {}


def test_changes_on_two_shards_are_whole_together():
    on_a = stream_summary.hold({}, [record(WALLET, 1000, 500, "t1")])
    on_b = stream_summary.hold({}, [record(SHOP, 0, 500, "t1")])
    assert stream_summary.partial([on_a]) == on_a  # only one side read: left out
    assert stream_summary.partial([on_a, on_b]) == {}  # both read: counted


def test_a_batch_credit_is_whole_only_with_its_treasury_debit():
    wallets = [record(accounts.wallet_account(f"w{i}"), 0, 100, "b1") for i in range(3)]
    held = stream_summary.hold({}, wallets)
    assert held == {"b1": {"wallets_satang": 300}}
    assert stream_summary.hold(held, [record(SHARD, 1000, 700, "b1")]) == {}


def test_a_change_without_a_transaction_or_without_money_is_never_held():
    assert stream_summary.hold({}, [record(WALLET, 0, 100, None)]) == {}  # written before the tag
    assert stream_summary.hold({}, [record(WALLET, 100, 100, "t9")]) == {}  # a status change


def test_two_transactions_interleaved_are_told_apart():
    page = [record(WALLET, 1000, 900, "t1"), record(WALLET, 900, 700, "t2"), record(SHOP, 0, 100, "t1")]
    assert stream_summary.hold({}, page) == {"t2": {"wallets_satang": -200}}


def test_a_write_that_keeps_the_last_transaction_stands_alone_so_money_outside_a_transfer_shows():
    change = record(WALLET, 100, 600, "t1")
    change["dynamodb"]["OldImage"][accounts.LAST_TX] = {"S": "t1"}  # not written by a transaction of the ledger
    assert stream_summary.legs([change]) == {}
    assert stream_summary.hold({}, [change]) == {}
    totals, _negative = stream_summary.fold([change])
    assert totals["wallets_satang"] == 500  # counted at once: the summary is off by it
