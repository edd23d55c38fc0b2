"""Pure parts of the ledger: account ids, transfer checks, retries, cursors."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

from chalicelib.ledger import accounts
from chalicelib.ledger.core import Transfer, TransferRecord, _decode_cursor, _encode_cursor, _stable_index
from chalicelib.ledger.exceptions import RetriesExhaustedError
from chalicelib.ledger.retry import RETRY_ATTEMPTS_MAX, is_transient, with_retries


def test_kind_and_bucket_come_from_the_account_id():
    assert accounts.kind_of(accounts.treasury_shard("p3", 7)) is accounts.AccountKind.TREASURY
    assert accounts.bucket_of(accounts.wallet_account("w1")) == "wallets_satang"
    assert accounts.bucket_of(accounts.in_flight("004")) == "in_flight_satang"
    assert accounts.bucket_of(accounts.BUDGET_ACCOUNT) is None
    with pytest.raises(ValueError):
        accounts.kind_of("wallet")
    with pytest.raises(ValueError):
        accounts.kind_of("piggybank:1")


def test_only_the_budget_account_may_go_negative():
    assert accounts.may_go_negative(accounts.BUDGET_ACCOUNT)
    for account in (accounts.treasury_shard("p", 0), accounts.wallet_account("w"),
                    accounts.merchant_spendable("m"), accounts.in_flight("004")):
        assert not accounts.may_go_negative(account)


def test_history_keys_exist_for_wallets_and_merchants_only():
    assert accounts.history_key_of(accounts.wallet_account("w1")) == "wallet:w1"
    # Both balances of a shop show in one transaction list.
    assert accounts.history_key_of(accounts.merchant_spendable("m1")) == "merchant:m1"
    assert accounts.history_key_of(accounts.merchant_withdrawable("m1")) == "merchant:m1"
    # A treasury shard is debited millions of times: it must not be an index key.
    assert accounts.history_key_of(accounts.treasury_shard("p3", 0)) is None
    assert accounts.history_key_of(accounts.BUDGET_ACCOUNT) is None


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, "100", 10**16])
def test_transfer_rejects_amounts_that_are_not_positive_integers(amount):
    with pytest.raises(ValueError):
        Transfer("t1", "wallet:a", "merchant_spendable:b", amount, "payment").check()


def test_transfer_needs_two_different_known_accounts():
    with pytest.raises(ValueError):
        Transfer("t1", "wallet:a", "wallet:a", 5, "payment").check()
    with pytest.raises(ValueError):
        Transfer("t1", "wallet:a", "cash:b", 5, "payment").check()
    Transfer("t1", "wallet:a", "merchant_spendable:b", 5, "payment").check()


def _record(**overrides):
    fields = dict(transfer_id="t1", kind="payment", debit_account="wallet:a",
                  credit_account="merchant_spendable:b", amount_satang=500, state="posted",
                  created_at="2025-04-01T00:00:00.000000Z", fingerprint="f1")
    fields.update(overrides)
    return TransferRecord(**fields)


def test_same_transfer_is_a_retry_and_other_fields_are_not():
    transfer = Transfer("t1", "wallet:a", "merchant_spendable:b", 500, "payment", fingerprint="f1")
    assert _record().same_as(transfer)
    assert not _record(amount_satang=501).same_as(transfer)
    assert not _record(credit_account="merchant_spendable:c").same_as(transfer)
    assert not _record(fingerprint="f2").same_as(transfer)
    assert not _record(kind="withdrawal").same_as(transfer)


def test_a_batched_credit_retried_from_another_shard_is_the_same_transfer():
    transfer = Transfer("iss:1", "treasury:p3:001", "wallet:a", 500, "issuance")
    record = _record(transfer_id="iss:1", kind="issuance", debit_account="treasury:p3:004",
                     credit_account="wallet:a", fingerprint=None)
    assert record.same_as(transfer)


def test_cursor_round_trips_and_rejects_garbage():
    key = "2025-04-01T00:00:00.000000Z#pay_123"
    assert _decode_cursor(_encode_cursor(key)) == key
    with pytest.raises(ValueError):
        _decode_cursor("!!!not-base64!!!")
    with pytest.raises(ValueError):
        _decode_cursor(_encode_cursor("no-separator"))


def test_stable_index_is_stable_and_spreads():
    picks = [_stable_index(f"iss:p3:1:w{i}", 8) for i in range(800)]
    assert picks == [_stable_index(f"iss:p3:1:w{i}", 8) for i in range(800)]
    assert all(60 < picks.count(shard) < 140 for shard in range(8))


def _cancelled(*codes):
    reasons = [CancellationReason(code=c) if c else None for c in codes]
    cause = VerboseClientError({"Error": {"Code": "TransactionCanceledException", "Message": "x"}},
                               "TransactWriteItems", cancellation_reasons=reasons)
    return TransactWriteError("Failed to write transaction items", cause)


def _client_error(code):
    return ClientError({"Error": {"Code": code, "Message": "x"}}, "TransactWriteItems")


def test_conflicts_and_throttling_are_transient_but_failed_conditions_are_not():
    assert is_transient(_cancelled("TransactionConflict", None))
    assert is_transient(_cancelled(None, "ThrottlingError"))
    assert is_transient(_client_error("ProvisionedThroughputExceededException"))
    assert not is_transient(_cancelled("ConditionalCheckFailed", "TransactionConflict"))
    assert not is_transient(_cancelled("ConditionalCheckFailed"))
    assert not is_transient(_client_error("ValidationException"))


def test_retries_a_conflict_with_growing_bounded_jitter():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise _cancelled("TransactionConflict")
        return "ok"

    assert with_retries("post", flaky, sleep=sleeps.append) == "ok"
    assert len(calls) == 4 and len(sleeps) == 3
    assert all(0 <= s <= 1.0 for s in sleeps)


def test_gives_up_after_the_bound_with_a_retryable_error():
    sleeps = []

    def always_throttled():
        raise _client_error("ThrottlingException")

    with pytest.raises(RetriesExhaustedError) as caught:
        with_retries("post", always_throttled, sleep=sleeps.append)
    assert len(sleeps) == RETRY_ATTEMPTS_MAX - 1
    assert caught.value.status == 429 and caught.value.retry_after_s >= 1


def test_a_failed_condition_is_not_retried():
    calls = []

    def insufficient():
        calls.append(1)
        raise _cancelled("ConditionalCheckFailed")

    with pytest.raises(TransactWriteError):
        with_retries("post", insufficient, sleep=lambda s: None)
    assert len(calls) == 1
