"""GET /v1/wallet's credited and spent figures come from the wallet's one
balance item (tallies the ledger adds in every posting), so the call costs
the same whatever the wallet's history, and the figures agree with it."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import db
from chalicelib.ledger import BatchCredit, Ledger, accounts, audit_ledger
from chalicelib.ledger.models import AccountModel
from tests.functional.payments_api_fixtures import World, balanced
from tests.functional.payments_fixtures import PHASE, fund_treasury


@pytest.fixture
def requests_counted() -> Iterator[list[str]]:
    """The name of every DynamoDB operation the shared client sends."""
    sent: list[str] = []

    def count(model: Any, **_: Any) -> None:
        sent.append(model.name)

    events = db.connection().client.meta.events
    events.register("before-call.dynamodb", count)
    yield sent
    events.unregister("before-call.dynamodb", count)


def _wallet(world: World) -> dict[str, Any]:
    reply = world.api.call("GET", "/v1/wallet", world.citizen)
    assert reply.status == 200, reply
    return dict(reply.body)


def test_credited_and_spent_are_the_wallets_own_money_in_and_out(world: World) -> None:
    for amount in (40_000, 12_345, 7):
        assert world.pay(world.qr(world.shop_a, amount)).status == 201
    shown = _wallet(world)
    assert (shown["credited_satang"], shown["spent_satang"]) == (1_000_000, 52_352)
    assert shown["balance_satang"] == shown["credited_satang"] - shown["spent_satang"] == 947_648
    ledger = Ledger()
    shard = fund_treasury(ledger, 300_000, PHASE)  # a second tranche, as activation credits it
    assert ledger.post_batch([shard], [BatchCredit("credit:w1:2", accounts.wallet_account("w1"), 300_000)],
                             "issuance").created
    shown = _wallet(world)
    assert (shown["credited_satang"], shown["spent_satang"], shown["balance_satang"]) == \
        (1_300_000, 52_352, 1_247_648)
    assert balanced()


def test_the_call_costs_the_same_after_one_payment_and_after_thirty(world: World,
                                                                     requests_counted: list[str]) -> None:
    assert world.pay(world.qr(world.shop_a, 100)).status == 201
    _wallet(world)  # warm: the phase's rules are cached for a few seconds
    requests_counted.clear()
    _wallet(world)
    after_one = list(requests_counted)
    for _ in range(29):
        assert world.pay(world.qr(world.shop_a, 100)).status == 201
    requests_counted.clear()
    shown = _wallet(world)
    assert requests_counted == after_one and "Query" not in after_one, requests_counted
    assert shown["spent_satang"] == 30 * 100


def test_every_tally_is_a_declared_attribute_of_the_balance_item() -> None:
    declared = set(AccountModel.get_attributes())
    assert set(accounts.TALLIES) <= declared
    assert accounts.tally_name("in", accounts.treasury_shard("p3", 1)) == "in_treasury_satang"
    with pytest.raises(ValueError):
        accounts.tally_name("sideways", accounts.wallet_account("w1"))


def test_the_ledger_audit_catches_a_tally_that_drifted_from_the_records(world: World) -> None:
    assert world.pay(world.qr(world.shop_a, 2_500)).status == 201
    assert balanced()
    db.dynamodb_client().update_item(
        TableName=db.table_name(AccountModel), Key={"account_id": {"S": accounts.wallet_account("w1")}},
        UpdateExpression="ADD out_merchant_spendable_satang :one", ExpressionAttributeValues={":one": {"N": "1"}})
    report = audit_ledger()
    assert not report.ok
    assert report.tally_mismatches == {(accounts.wallet_account("w1"), "out_merchant_spendable_satang"): (2_501, 2_500)}
