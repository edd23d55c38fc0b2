"""Pure parts of the ledger: account ids, transfer checks, records read back, cursors."""
from __future__ import annotations

import pytest

from chalicelib.ledger import CorruptRecordError, accounts
from chalicelib.ledger.batch import stable_index
from chalicelib.ledger.history import decode_cursor, encode_cursor
from chalicelib.ledger.records import Transfer, TransferRecord
from chalicelib.phases.counters import credit_counters


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


def test_the_same_id_from_another_debit_account_or_to_another_destination_is_not_a_retry():
    transfer = Transfer("t1", "wallet:a", "merchant_spendable:b", 500, "payment", fingerprint="f1")
    assert not _record(debit_account="wallet:z").same_as(transfer)
    hold = Transfer("t1", "merchant_withdrawable:m", "in_flight:004", 500, "withdrawal")
    held = _record(debit_account="merchant_withdrawable:m", credit_account="in_flight:004", kind="withdrawal",
                   fingerprint=None, state="pending", post_to="paid_out:004")
    assert held.same_as(hold, post_to="paid_out:004")
    assert not held.same_as(hold, post_to="paid_out:006")
    assert not held.same_as(hold)


def test_a_batched_credit_retried_from_another_shard_of_its_batch_is_the_same_transfer():
    transfer = Transfer("iss:1", "treasury:p3:001", "wallet:a", 500, "issuance")
    record = _record(transfer_id="iss:1", kind="issuance", debit_account="treasury:p3:004",
                     credit_account="wallet:a", fingerprint=None)
    assert record.same_as(transfer, sources=["treasury:p3:001", "treasury:p3:004"])
    assert not record.same_as(transfer, sources=["treasury:p3:001", "treasury:p3:002"])


def _item(**overrides):
    item = dict(transfer_id="t1", kind="payment", debit_account="wallet:a", credit_account="merchant_spendable:b",
                amount_satang=500, state="posted", created_at="2025-04-01T00:00:00.000000Z")
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def test_a_record_read_back_is_checked_against_what_its_state_implies():
    assert TransferRecord.from_item(_item()).amount_satang == 500
    assert TransferRecord.from_item(_item(state="pending", post_to="paid_out:004")).state == "pending"
    assert TransferRecord.from_item(_item(state=None)).state == "posted"  # written before states existed
    for broken in (_item(amount_satang=None), _item(created_at=""), _item(amount_satang=0),
                   _item(amount_satang=2.5), _item(credit_account="wallet:a"), _item(debit_account="cash:1"),
                   _item(state="lost"), _item(state="pending"), _item(state="voided"),
                   _item(state="posted", post_to="nowhere")):
        with pytest.raises(CorruptRecordError):
            TransferRecord.from_item(broken)


def test_cursor_round_trips_and_rejects_garbage():
    key = "2025-04-01T00:00:00.000000Z#pay_123"
    assert decode_cursor(encode_cursor(key)) == key
    with pytest.raises(ValueError):
        decode_cursor("!!!not-base64!!!")
    with pytest.raises(ValueError):
        decode_cursor(encode_cursor("no-separator"))


def teststable_index_is_stable_and_spreads():
    picks = [stable_index(f"iss:p3:1:w{i}", 8) for i in range(800)]
    assert picks == [stable_index(f"iss:p3:1:w{i}", 8) for i in range(800)]
    assert all(60 < picks.count(shard) < 140 for shard in range(8))


def test_only_a_treasury_shard_keeps_counters_and_never_under_a_ledger_attribute_name():
    shard = accounts.treasury_shard("p3", 0)
    accounts.check_counter(shard, "tranche_1_credited_count")
    for name in ("balance_satang", "kind", "in_wallet_satang", "Bad-Name", ""):
        with pytest.raises(ValueError):
            accounts.check_counter(shard, name)
    with pytest.raises(ValueError, match="keep no counters"):
        accounts.check_counter(accounts.wallet_account("w1"), "credited_count")


def test_a_credit_counts_a_citizen_only_at_its_first_tranche():
    assert credit_counters(2, 1, 500) == {"credited_count": 1, "credited_satang": 500, "wave_2_credited_count": 1,
                                          "tranche_1_credited_count": 1}
    assert credit_counters(2, 3, 500) == {"credited_satang": 500, "tranche_3_credited_count": 1}
