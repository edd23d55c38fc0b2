"""The ledger against moto in-process: single-threaded behaviour of every
operation (concurrency is tested on DynamoDB Local, tests/concurrency)."""
from __future__ import annotations

import pytest

from chalicelib.ledger import (
    AccountModel,
    BatchCredit,
    ConditionFailedError,
    ExtraWrite,
    InsufficientFundsError,
    Ledger,
    PendingStateError,
    Transfer,
    TransferMismatchError,
    accounts,
    audit_ledger,
)
from chalicelib.ledger.models import TransferModel
from tests.invariants import drained_summary

PHASE = "p3"


@pytest.fixture
def ledger(moto_aws):
    return Ledger()


def fund(ledger: Ledger, per_shard: int, shards: int = 3) -> list[str]:
    names = [accounts.treasury_shard(PHASE, i) for i in range(shards)]
    ledger.post_batch([accounts.BUDGET_ACCOUNT],
                      [BatchCredit(f"fund:{PHASE}:{i}", s, per_shard) for i, s in enumerate(names)], "funding")
    return names


def assert_balanced():
    report = audit_ledger()
    assert report.ok, report
    assert drained_summary()["balanced"] is True


def pay(wallet: str, amount: int, transfer_id: str = "pay1", merchant: str = "m1") -> Transfer:
    return Transfer(transfer_id, accounts.wallet_account(wallet), accounts.merchant_spendable(merchant),
                    amount, "payment")


def test_funding_moves_budget_into_the_treasury_and_balances(ledger):
    fund(ledger, 1_000_000)
    summary = drained_summary()
    assert summary["funded_satang"] == 3_000_000
    assert summary["treasury_satang"] == 3_000_000
    assert ledger.balance(accounts.BUDGET_ACCOUNT) == -3_000_000
    assert_balanced()


def test_a_post_moves_money_once_and_a_replay_moves_nothing(ledger):
    shards = fund(ledger, 100_000)
    ledger.post_batch(shards, [BatchCredit("iss:w1", accounts.wallet_account("w1"), 50_000)], "issuance")
    first = ledger.post(pay("w1", 20_000))
    again = ledger.post(pay("w1", 20_000))
    assert first.created and not again.created
    assert again.record.transfer_id == first.record.transfer_id
    assert ledger.balance(accounts.wallet_account("w1")) == 30_000
    assert ledger.balance(accounts.merchant_spendable("m1")) == 20_000
    assert_balanced()


def test_the_same_id_with_other_fields_is_refused_and_moves_nothing(ledger):
    shards = fund(ledger, 100_000)
    ledger.post_batch(shards, [BatchCredit("iss:w1", accounts.wallet_account("w1"), 50_000)], "issuance")
    ledger.post(pay("w1", 20_000))
    with pytest.raises(TransferMismatchError) as caught:
        ledger.post(pay("w1", 20_001))
    assert caught.value.status == 409 and caught.value.code == "idempotency_conflict"
    assert ledger.balance(accounts.wallet_account("w1")) == 30_000
    assert_balanced()


def test_an_overdraft_fails_typed_and_writes_nothing(ledger):
    shards = fund(ledger, 100_000)
    ledger.post_batch(shards, [BatchCredit("iss:w1", accounts.wallet_account("w1"), 50_000)], "issuance")
    with pytest.raises(InsufficientFundsError) as caught:
        ledger.post(pay("w1", 50_001))
    assert caught.value.code == "insufficient_funds" and caught.value.status == 422
    assert ledger.balance(accounts.wallet_account("w1")) == 50_000
    assert ledger.get_transfer("pay1") is None
    # An account that never existed covers nothing either.
    with pytest.raises(InsufficientFundsError):
        ledger.post(pay("nobody", 1, "pay2"))
    assert_balanced()


def test_a_failed_extra_condition_names_its_item_and_returns_it(ledger):
    shards = fund(ledger, 100_000)
    ledger.post_batch(shards, [BatchCredit("iss:w1", accounts.wallet_account("w1"), 50_000,
                                           credit_sets={"status": "active"})], "issuance")
    with pytest.raises(ConditionFailedError) as caught:
        ledger.post(pay("w1", 100), debit_condition=AccountModel.status == "expired")
    assert caught.value.tag == "debit" and caught.value.item["status"] == "active"

    marker = ExtraWrite("qr", AccountModel("marker:none-such"), AccountModel.account_id.exists())
    with pytest.raises(ConditionFailedError) as caught:
        ledger.post(pay("w1", 100, "pay2"), extra=[marker])
    assert caught.value.tag == "qr"
    assert ledger.balance(accounts.wallet_account("w1")) == 50_000
    assert_balanced()


def test_batch_fills_transactions_and_credits_each_once(ledger, moto_aws):
    shards = fund(ledger, 1_000_000)
    credits = [BatchCredit(f"iss:w{i}", accounts.wallet_account(f"w{i}"), 1_000,
                           credit_sets={"status": "active", "expires_at": "2025-10-01T00:00:00.000000Z"})
               for i in range(120)]
    result = ledger.post_batch(shards, credits, "issuance")
    per_tx = (ledger.item_limit - 1) // 2
    assert len(result.created) == 120 and not result.existing and not result.unfunded
    assert result.transactions == -(-120 // per_tx)
    again = ledger.post_batch(shards, credits, "issuance")
    assert not again.created and len(again.existing) == 120
    wallet = ledger.account(accounts.wallet_account("w7"))
    assert int(wallet.balance_satang) == 1_000 and wallet.status == "active"
    assert drained_summary()["wallets_satang"] == 120_000
    assert_balanced()


def test_batch_with_some_credits_already_posted_posts_only_the_rest(ledger):
    shards = fund(ledger, 1_000_000)
    credits = [BatchCredit(f"iss:w{i}", accounts.wallet_account(f"w{i}"), 1_000) for i in range(10)]
    ledger.post_batch(shards, credits[3:6], "issuance")
    result = ledger.post_batch(shards, credits, "issuance")
    assert sorted(r.transfer_id for r in result.existing) == ["iss:w3", "iss:w4", "iss:w5"]
    assert len(result.created) == 7
    assert drained_summary()["wallets_satang"] == 10_000
    assert_balanced()


def test_a_shard_that_cannot_cover_hands_the_batch_on_and_the_budget_is_never_exceeded(ledger):
    shards = fund(ledger, 2_500)  # 7,500 in all, no shard covers 3,000 at once
    credits = [BatchCredit(f"iss:w{i}", accounts.wallet_account(f"w{i}"), 1_000) for i in range(9)]
    result = ledger.post_batch(shards, credits, "issuance")
    assert len(result.created) == 6  # 2 from each shard
    assert len(result.unfunded) == 3
    assert drained_summary()["treasury_satang"] == 1_500
    assert all(ledger.balance(s) >= 0 for s in shards)
    assert_balanced()


def test_a_pending_transfer_is_posted_once_and_cannot_then_be_voided(ledger):
    shards = fund(ledger, 100_000)
    ledger.post_batch(shards, [BatchCredit("iss:w1", accounts.merchant_withdrawable("m1"), 50_000)], "funding")
    hold = Transfer("wd_1", accounts.merchant_withdrawable("m1"), accounts.in_flight("004"), 30_000, "withdrawal")
    assert ledger.hold(hold, post_to=accounts.paid_out("004")).created
    assert not ledger.hold(hold, post_to=accounts.paid_out("004")).created
    assert drained_summary()["in_flight_satang"] == 30_000
    assert ledger.settle("wd_1").created
    assert not ledger.settle("wd_1").created
    with pytest.raises(PendingStateError):
        ledger.void("wd_1")
    summary = drained_summary()
    assert summary["in_flight_satang"] == 0 and summary["paid_out_satang"] == 30_000
    assert ledger.get_transfer("wd_1").state == "posted"
    assert_balanced()


def test_a_voided_transfer_returns_the_money_to_its_source_once(ledger):
    shards = fund(ledger, 100_000)
    ledger.post_batch(shards, [BatchCredit("iss:w1", accounts.merchant_withdrawable("m1"), 50_000)], "funding")
    ledger.hold(Transfer("wd_2", accounts.merchant_withdrawable("m1"), accounts.in_flight("004"), 10_000,
                         "withdrawal"), post_to=accounts.paid_out("004"))
    assert ledger.void("wd_2", details={"reason": "AC01"}).created
    assert not ledger.void("wd_2").created
    with pytest.raises(PendingStateError):
        ledger.settle("wd_2")
    assert ledger.balance(accounts.merchant_withdrawable("m1")) == 50_000
    assert drained_summary()["in_flight_satang"] == 0
    with pytest.raises(PendingStateError):
        ledger.settle("no-such-transfer")
    assert_balanced()


def test_history_is_newest_first_and_pages_without_gaps_or_repeats(ledger):
    shards = fund(ledger, 1_000_000)
    ledger.post_batch(shards, [BatchCredit("iss:w1", accounts.wallet_account("w1"), 100_000)], "issuance")
    for i in range(7):
        ledger.post(pay("w1", 1_000 + i, f"pay{i}", merchant=f"m{i % 2}"))
    seen, cursor = [], None
    while True:
        page = ledger.history("wallet:w1", limit=3, cursor=cursor)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    ids = [r.transfer_id for r, _ in seen]
    assert ids == [f"pay{i}" for i in reversed(range(7))] + ["iss:w1"]
    assert [d for _, d in seen] == ["out"] * 7 + ["in"]
    merchant = ledger.history("merchant:m0", limit=50)
    assert [r.transfer_id for r, _ in merchant.items] == ["pay6", "pay4", "pay2", "pay0"]
    assert all(d == "in" for _, d in merchant.items)
    assert_balanced()


def test_history_records_carry_no_index_key_for_the_treasury(ledger):
    shards = fund(ledger, 100_000)
    ledger.post_batch(shards, [BatchCredit("iss:w1", accounts.wallet_account("w1"), 100)], "issuance")
    record = TransferModel.get("iss:w1")
    assert record.debit_history is None and record.credit_history == "wallet:w1"


def test_two_credits_to_one_account_in_a_batch_go_in_separate_transactions(ledger):
    shards = fund(ledger, 100_000)
    credits = [BatchCredit("iss:a", accounts.wallet_account("w1"), 100),
               BatchCredit("iss:b", accounts.wallet_account("w1"), 200),
               BatchCredit("iss:c", accounts.wallet_account("w2"), 300)]
    result = ledger.post_batch(shards, credits, "issuance")
    assert len(result.created) == 3 and result.transactions == 2
    assert ledger.balance(accounts.wallet_account("w1")) == 300
    assert_balanced()


def test_what_a_post_returns_is_what_it_stored_and_what_a_replay_returns(ledger):
    """The record is written as a low-level item: read back through the
    model it must be the record the post returned, details of every type
    included, with both history keys, and the wallet created with its kind."""
    shards = fund(ledger, 100_000)
    ledger.post_batch(shards, [BatchCredit("c1", accounts.wallet_account("w1"), 50_000,
                                           credit_sets={"status": "active", "expires_at": "2027-05-01T00:00:00Z"})],
                      "issuance")
    details = {"merchant_name": "ร้านป้าแดง", "balance_satang": 49_000, "receipt": True,
               "lines": [{"item": "rice", "satang": 1_000}], "note": None}
    transfer = Transfer("pay-details", accounts.wallet_account("w1"), accounts.merchant_spendable("m9"), 1_000,
                        "payment", fingerprint="f" * 64, details=details)
    posted = ledger.post(transfer, debit_condition=AccountModel.status == "active")
    assert posted.created
    stored = ledger.get_transfer("pay-details")
    assert stored == posted.record
    assert stored.details == details
    raw = TransferModel.get("pay-details", consistent_read=True)
    assert (raw.debit_history, raw.credit_history) == ("wallet:w1", "merchant:m9")
    assert raw.history_sort == f"{stored.created_at}#pay-details"
    again = ledger.post(transfer, debit_condition=AccountModel.status == "active")
    assert not again.created and again.record == posted.record
    wallet = ledger.account(accounts.wallet_account("w1"))
    assert (wallet.kind, wallet.status, wallet.expires_at) == ("wallet", "active", "2027-05-01T00:00:00Z")
    assert int(wallet.balance_satang) == 49_000
    assert ledger.account(accounts.merchant_spendable("m9")).kind == "merchant_spendable"
    assert_balanced()
