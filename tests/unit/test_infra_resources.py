"""The deployed tables and queues are generated from the code: check they
match what the code reads and writes."""
from __future__ import annotations

import pytest

from infra.resources import template


@pytest.fixture(scope="module")
def resources(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WALLET_STAGE", "prod")
        out = template("prod")["Resources"]
    from chalicelib import db
    from chalicelib.config import rebuild

    rebuild()
    db.bind_models()
    return out


def test_every_model_has_a_protected_on_demand_table(resources):
    from chalicelib.db import registered_models

    tables = {r["Properties"]["TableName"]: r for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"}
    for model in registered_models():
        table = tables[f"wallet-prod-{model.Meta.short_name}"]
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["DeletionProtectionEnabled"] is True and table["DeletionPolicy"] == "Retain"
        assert props["KeySchema"][0]["AttributeName"] == model._hash_keyname


def test_history_indexes_of_transfers_are_deployed(resources):
    props = resources["TransfersTable"]["Properties"]
    names = {i["IndexName"] for i in props["GlobalSecondaryIndexes"]}
    assert names == {"debit-history", "credit-history", "feed"}
    defined = {d["AttributeName"] for d in props["AttributeDefinitions"]}
    assert {"transfer_id", "debit_history", "credit_history", "history_sort"} <= defined


def test_every_queue_has_a_dead_letter_queue_after_five_receives(resources):
    from chalicelib.queues import QUEUES

    for short in QUEUES:
        name = "".join(p.capitalize() for p in short.replace("-", " ").split())
        queue = resources[f"{name}Queue"]["Properties"]
        assert queue["QueueName"] == f"wallet-prod-{short}"
        assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
        assert resources[queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]]["Type"] == "AWS::SQS::Queue"


def test_statement_bucket_is_private(resources):
    block = resources["StatementBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block.values())
