"""The stream summary's upkeep on moto (single-threaded): a closed shard the
stream no longer lists is folded into one item, the summary unchanged."""
from __future__ import annotations

from chalicelib import db
from chalicelib.ledger import BatchCredit, Ledger, accounts, stream_summary
from chalicelib.ledger.models import SummaryShardModel
from tests.invariants import drained_summary


def test_a_trimmed_closed_shard_is_compacted_and_counted_once(moto_aws):
    ledger = Ledger()
    shard = accounts.treasury_shard("p", 0)
    ledger.post_batch([accounts.BUDGET_ACCOUNT], [BatchCredit("fund", shard, 500_000)], "funding")
    before = drained_summary()
    # A shard that DynamoDB rolled over and trimmed: closed, gone from the stream.
    db.dynamodb_client().put_item(TableName=db.table_name(SummaryShardModel), Item={
        "stream": {"S": stream_summary.STREAM_KEY}, "shard_id": {"S": "shardId-old"}, "closed": {"BOOL": True},
        "budget_satang": {"N": "-7"}, "wallets_satang": {"N": "7"}, "sequence": {"S": "1"}})
    with_old = ledger.summary()
    assert with_old["funded_satang"] == before["funded_satang"] + 7 and with_old["shards"] == before["shards"] + 1
    stats = stream_summary.consume()
    assert stats.compacted == 1
    assert stream_summary.consume().compacted == 0  # once
    after = ledger.summary()
    assert {k: after[k] for k in ("funded_satang", "wallets_satang", "balanced")} == \
        {k: with_old[k] for k in ("funded_satang", "wallets_satang", "balanced")}
    assert after["shards"] == before["shards"] + 1  # the open shard and the compacted item
