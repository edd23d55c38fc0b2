"""The ledger summary of API.md kept from the balances' DynamoDB stream.

Reading it is O(stream shards x buckets): one Query of the aggregate items
(``SummaryShardModel``), whatever the number of accounts. Nothing is added
to a payment's transaction: the balances' stream (NEW_AND_OLD_IMAGES) gives
each balance change, old and new, so the exact delta per account and hence
per bucket, and ``consume`` folds them into one aggregate item per stream
shard, each write conditional on the shard's last applied sequence number.

- Exactly once: a page of records is applied only if the shard's item still
  says the sequence number the page continues from, in the same write that
  moves it; a page read twice, or by two readers at once, counts once.
- Order: a child shard is read only after its parent is closed and applied.
- ``as_of``: the oldest open shard's applied time (a shard read to its tip
  counts as applied through the read, less STREAM_DELAY_S): every balance
  change committed before ``as_of`` is counted.
- Whole transactions only: every balance change names its transaction
  (``last_tx``, db.Transaction.id). The changes of a transaction the reader
  has seen only in part (a page or a pass ended between its items, or its
  items are on shards not read yet) are kept aside on the shard's item
  (``held``) and left out of the summary until the rest arrives: under
  traffic the summary is a sum of whole transactions, so it balances as the
  ledger does, and ``partial_transactions`` says how many were left out.
  A pass ends by dropping what is whole across shards (``_prune``).

The reader is a scheduled function (app.py ``ledger_summary_reader``), not a
Lambda stream event source: Lambda's DynamoDB stream events do not name
their shard, and the per-shard checkpoint is what makes a redelivered or
bisected batch count once. Locally the devstack pump fires the same handler.
The full scan stays the auditor's offline check (chalicelib/ledger/summary.py).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib import db
from chalicelib.clock import iso, offset_s, parse_iso, utcnow
from chalicelib.config import get_settings, runtime
from chalicelib.ledger import accounts
from chalicelib.ledger.models import AccountModel, SummaryShardModel

__all__ = [
    "BUDGET_TOTAL", "PAGE_LIMIT", "STREAM_DELAY_S", "ConsumeStats", "Legs", "ShardState",
    "apply_page", "consume", "fold", "hold", "legs", "net", "partial", "read_summary", "stream_arn",
]

# The budget account's balance, kept beside the buckets (funded = -budget).
BUDGET_TOTAL = "budget_satang"
TOTALS = (BUDGET_TOTAL, *accounts.SUMMARY_BUCKETS)
NEGATIVE = "negative_accounts"
# GetRecords returns at most 1,000 records (1 MB) a call.
PAGE_LIMIT = 1000
# A record reaches the stream shortly after its write commits; a read that
# found a shard's tip at time T covers the writes committed before T - this.
STREAM_DELAY_S = 1.0
STREAM_KEY = "accounts"
# The item that holds the totals of every shard the stream no longer lists.
COMPACTED = "~compacted"
HELD, HELD_VERSION = "held", "held_version"
_DESERIALIZER = TypeDeserializer()
# A transaction's changes by total (a bucket, BUDGET_TOTAL or NEGATIVE), by transaction id.
Legs = dict[str, dict[str, int]]


@dataclass
class ShardState:
    shard_id: str
    parent_shard_id: str | None = None
    sequence: str | None = None
    closed: bool = False
    held: Legs = field(default_factory=dict)
    held_version: int = 0


@dataclass
class ConsumeStats:
    shards: int = 0
    pages: int = 0
    records: int = 0
    skipped_pages: int = 0  # pages another reader (or an earlier try) had applied
    pruned: int = 0  # transactions seen whole across shards, dropped from ``held``
    compacted: int = 0  # closed shards folded into the COMPACTED item
    caught_up: bool = True
    per_shard: dict[str, int] = field(default_factory=dict)


def _streams_client() -> Any:
    settings = get_settings()
    return runtime().component(f"dynamodbstreams:{settings.region}:{settings.dynamodb_endpoint}", lambda: boto3.client(
        "dynamodbstreams", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint,
        # The regional endpoint (streams.dynamodb.<region>), not the account-based one
        # recent botocore picks, which moto does not serve; the same service either way.
        config=Config(account_id_endpoint_mode="disabled",
                      retries={"mode": db.BOTOCORE_RETRY_MODE, "total_max_attempts": db.BOTOCORE_ATTEMPTS_MAX},
                      connect_timeout=db.CONNECT_TIMEOUT_S, read_timeout=db.READ_TIMEOUT_S)))


def stream_arn() -> str:
    table = db.table_name(AccountModel)
    arn = db.dynamodb_client().describe_table(TableName=table)["Table"].get("LatestStreamArn")
    if not arn:
        raise RuntimeError(f"table {table} has no stream: the ledger summary needs NEW_AND_OLD_IMAGES")
    return str(arn)


def _balance(image: Mapping[str, Any] | None) -> int:
    if not image or "balance_satang" not in image:
        return 0
    return int(image["balance_satang"]["N"])


def _change(record: Mapping[str, Any]) -> tuple[str, int, int]:
    """The total a stream record of a balance item moves, by how much, and
    how it moves the count of accounts below zero that may not be."""
    change = record["dynamodb"]
    account_id = change["Keys"]["account_id"]["S"]
    old, new = _balance(change.get("OldImage")), _balance(change.get("NewImage"))
    negative = 0 if accounts.may_go_negative(account_id) else int(new < 0) - int(old < 0)
    return accounts.bucket_of(account_id) or BUDGET_TOTAL, new - old, negative


def fold(records: Iterable[Mapping[str, Any]]) -> tuple[Counter[str], int]:
    """The change of every total, and of the count of accounts below zero
    that may not be, that ``records`` (stream records of balance items) make."""
    totals: Counter[str] = Counter()
    negative = 0
    for record in records:
        total, delta, moved = _change(record)
        totals[total] += delta
        negative += moved
    return totals, negative


def _tx(record: Mapping[str, Any]) -> str | None:
    """The transaction that made the change: the ``last_tx`` the write set.
    A write that left it as it was (or an item without one) did not come
    through the ledger's transaction: it stands alone, counted at once, so
    that money written outside a transfer shows in the summary."""
    change = record["dynamodb"]
    new = ((change.get("NewImage") or {}).get(accounts.LAST_TX) or {}).get("S")
    old = ((change.get("OldImage") or {}).get(accounts.LAST_TX) or {}).get("S")
    return str(new) if new is not None and new != old else None


def legs(records: Iterable[Mapping[str, Any]]) -> Legs:
    """The changes of ``records`` by the transaction that made them (``_tx``;
    a change without one, or that moves no money, is left out)."""
    found: Legs = {}
    for record in records:
        tx = _tx(record)
        total, delta, moved = _change(record)
        if tx is None or (delta == 0 and moved == 0):
            continue
        entry = found.setdefault(str(tx), {})
        entry[total] = entry.get(total, 0) + delta
        if moved:
            entry[NEGATIVE] = entry.get(NEGATIVE, 0) + moved
    return found


def _whole(entry: Mapping[str, int]) -> bool:
    """A transaction's changes seen so far add up to nothing: every double
    entry is in (or the part seen balances on its own, which counts alike)."""
    return net(entry) == 0


def _merged(*parts: Legs) -> Legs:
    out: Legs = {}
    for part in parts:
        for tx, entry in part.items():
            into = out.setdefault(tx, {})
            for total, amount in entry.items():
                into[total] = into.get(total, 0) + amount
    return {tx: {total: amount for total, amount in entry.items() if amount} for tx, entry in out.items()}


def hold(held: Legs, records: Iterable[Mapping[str, Any]]) -> Legs:
    """A shard's held changes after ``records``: those of transactions
    still seen in part on this shard."""
    return {tx: entry for tx, entry in _merged(held, legs(records)).items() if not _whole(entry)}


def net(entry: Mapping[str, int]) -> int:
    """What a transaction's changes seen so far add to all the totals
    (budget included): 0 once it is whole."""
    return sum(amount for total, amount in entry.items() if total != NEGATIVE)


def partial(helds: Iterable[Legs]) -> Legs:
    """Across every shard's held changes: the transactions still seen in part,
    with their changes (which the summary leaves out)."""
    return {tx: entry for tx, entry in _merged(*helds).items() if not _whole(entry)}


def _held_of(item: Mapping[str, Any]) -> Legs:
    text = item.get(HELD)
    if not text:
        return {}
    return {str(tx): {str(k): int(v) for k, v in entry.items()} for tx, entry in json.loads(text).items()}


def _held_condition(state: ShardState, names: dict[str, str], values: dict[str, Any]) -> str:
    """The item's held changes are still those ``state`` read (a prune or a
    page moves the version)."""
    names["#hv"] = HELD_VERSION
    if not state.held_version:
        return "attribute_not_exists(#hv)"
    values[":hvprev"] = {"N": str(state.held_version)}
    return "#hv = :hvprev"


def _record_time(record: Mapping[str, Any]) -> dt.datetime:
    moment = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(moment, dt.datetime):
        when = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    elif moment is not None:
        when = dt.datetime.fromtimestamp(float(moment), dt.UTC)
    else:
        return utcnow()
    return when + dt.timedelta(seconds=offset_s())  # the stage's clock, as every other time


def apply_page(state: ShardState, records: list[Mapping[str, Any]], *, closed: bool = False,
               tip_at: dt.datetime | None = None) -> bool:
    """Add ``records`` (the shard's next ones after ``state.sequence``) to
    the shard's item in one write, conditional on the item still being at
    ``state.sequence``; False (nothing written) when it is not: the page was
    applied already. ``tip_at``: the read found the shard's tip then."""
    totals, negative = fold(records)
    held = hold(state.held, records)
    names: dict[str, str] = {"#seq": "sequence", "#held": HELD}
    values: dict[str, Any] = {":held": {"S": json.dumps(held, sort_keys=True)}, ":one": {"N": "1"}}
    sets, adds = ["#held = :held"], ["#hv :one"]
    held_condition = _held_condition(state, names, values)
    for i, (name, delta) in enumerate(sorted({**dict.fromkeys(TOTALS, 0), **totals}.items())):
        names[f"#t{i}"] = name
        values[f":t{i}"] = {"N": str(delta)}
        adds.append(f"#t{i} :t{i}")
    names["#neg"], values[":neg"] = NEGATIVE, {"N": str(negative)}
    names["#n"], values[":n"] = "records", {"N": str(len(records))}
    adds += ["#neg :neg", "#n :n"]
    if records:
        values[":seq"] = {"S": str(records[-1]["dynamodb"]["SequenceNumber"])}
        names["#at"], values[":at"] = "applied_through", {"S": iso(_record_time(records[-1]))}
        sets += ["#seq = :seq", "#at = :at"]
    if tip_at is not None:
        names["#tip"], values[":tip"] = "read_to_tip_at", {"S": iso(tip_at)}
        sets.append("#tip = :tip")
    if closed:
        names["#closed"], values[":closed"] = "closed", {"BOOL": True}
        sets.append("#closed = :closed")
    if state.parent_shard_id:
        names["#parent"], values[":parent"] = "parent_shard_id", {"S": state.parent_shard_id}
        sets.append("#parent = :parent")
    if state.sequence is None:
        condition = "attribute_not_exists(#seq)"
    else:
        condition = "#seq = :prev"
        values[":prev"] = {"S": state.sequence}
    condition = f"{condition} AND {held_condition}"
    expression = " ".join(part for part in (
        f"SET {', '.join(sets)}" if sets else "", f"ADD {', '.join(adds)}") if part)
    try:
        db.dynamodb_client().update_item(
            TableName=db.table_name(SummaryShardModel),
            Key={"stream": {"S": STREAM_KEY}, "shard_id": {"S": state.shard_id}},
            UpdateExpression=expression, ConditionExpression=condition,
            ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    except ClientError as exc:
        if db.condition_failed(exc):
            return False
        raise
    if records:
        state.sequence = str(records[-1]["dynamodb"]["SequenceNumber"])
    state.closed = state.closed or closed
    state.held, state.held_version = held, state.held_version + 1
    return True


def _prune(states: Iterable[ShardState], stats: ConsumeStats) -> None:
    """Drop from each shard's held changes the transactions now seen whole
    across shards (their items on several shards, each read): each write
    conditional on the version its reader saw, so a page applied meanwhile
    is never undone (the next pass prunes what this one could not)."""
    states = list(states)
    still = partial(state.held for state in states)
    for state in states:
        done = [tx for tx in state.held if tx not in still]
        if not done:
            continue
        kept = {tx: entry for tx, entry in state.held.items() if tx in still}
        names: dict[str, str] = {"#held": HELD}
        values: dict[str, Any] = {":held": {"S": json.dumps(kept, sort_keys=True)}, ":one": {"N": "1"}}
        condition = _held_condition(state, names, values)
        try:
            db.dynamodb_client().update_item(
                TableName=db.table_name(SummaryShardModel),
                Key={"stream": {"S": STREAM_KEY}, "shard_id": {"S": state.shard_id}},
                UpdateExpression="SET #held = :held ADD #hv :one", ConditionExpression=condition,
                ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError as exc:
            if db.condition_failed(exc):
                continue  # another reader wrote it since: the next pass
            raise
        state.held, state.held_version = kept, state.held_version + 1
        stats.pruned += len(done)


def _items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {
        "TableName": db.table_name(SummaryShardModel), "ConsistentRead": True,
        "KeyConditionExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "stream"},
        "ExpressionAttributeValues": {":s": {"S": STREAM_KEY}}}
    while True:
        page = db.dynamodb_client().query(**request)
        items += [{k: db.plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()} for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _shards(client: Any, arn: str) -> list[dict[str, Any]]:
    shards: list[dict[str, Any]] = []
    request: dict[str, Any] = {"StreamArn": arn}
    while True:
        described = client.describe_stream(**request)["StreamDescription"]
        shards += described["Shards"]
        last = described.get("LastEvaluatedShardId")
        if not last:
            return shards
        request["ExclusiveStartShardId"] = last


def consume(time_left_s: Callable[[], float] | None = None, page_limit: int = PAGE_LIMIT) -> ConsumeStats:
    """One pass over every shard of the balances' stream, each read to its
    tip (or until ``time_left_s()`` drops below a few seconds), folding its
    records into its aggregate item. Safe to run twice at once, and to
    repeat: see the module's doc."""
    client, arn = _streams_client(), stream_arn()
    known = {str(item["shard_id"]): item for item in _items()}
    shards = _shards(client, arn)
    ids = {shard["ShardId"] for shard in shards}
    states = {shard["ShardId"]: _state(shard, known.get(shard["ShardId"], {})) for shard in shards}
    # The held changes of shards the stream no longer lists count too.
    gone = [_state({"ShardId": shard_id}, item) for shard_id, item in known.items() if shard_id not in ids]
    stats = ConsumeStats(shards=len(shards))
    pending = [shard["ShardId"] for shard in shards]
    progress = True
    while pending and progress:  # parents first: a child waits for its parent's end
        progress = False
        for shard_id in list(pending):
            state = states[shard_id]
            parent = state.parent_shard_id
            if parent in ids and not states[parent].closed:
                continue
            pending.remove(shard_id)
            progress = True
            if not state.closed:
                _drain(client, arn, state, stats, time_left_s, page_limit)
    stats.caught_up = stats.caught_up and not pending
    _prune([*states.values(), *gone], stats)
    for state in gone:  # a shard with changes still held waits for them to be whole
        if state.shard_id != COMPACTED and state.closed and not state.held:
            stats.compacted += int(_compact(known[state.shard_id]))
    return stats


def _state(shard: Mapping[str, Any], item: Mapping[str, Any]) -> ShardState:
    return ShardState(str(shard["ShardId"]), shard.get("ParentShardId"), item.get("sequence"),
                      bool(item.get("closed")), _held_of(item), int(item.get(HELD_VERSION) or 0))


def _compact(item: Mapping[str, Any]) -> bool:
    """Fold a closed shard's item that the stream no longer lists (trimmed
    after 24 h, so nothing can read it again) into the one COMPACTED item,
    in one transaction: the items read stay those of the last day's shards
    (DynamoDB rolls shards over every few hours), not every shard ever."""
    table = db.table_name(SummaryShardModel)
    names = {f"#t{i}": name for i, name in enumerate((*TOTALS, NEGATIVE, "records"))}
    values = {f":t{i}": {"N": str(int(item.get(name) or 0))} for i, name in enumerate((*TOTALS, NEGATIVE, "records"))}
    adds = ", ".join(f"#t{i} :t{i}" for i in range(len(names)))
    tx = db.Transaction("summary_compact")
    tx.update("compacted", {"TableName": table, "Key": {"stream": {"S": STREAM_KEY}, "shard_id": {"S": COMPACTED}},
                            "UpdateExpression": f"SET #closed = :true ADD {adds}",
                            "ExpressionAttributeNames": {**names, "#closed": "closed"},
                            "ExpressionAttributeValues": {**values, ":true": {"BOOL": True}}})
    tx.add("closed_shard", "Delete", {
        "TableName": table, "Key": {"stream": {"S": STREAM_KEY}, "shard_id": {"S": item["shard_id"]}},
        "ConditionExpression": "#closed = :true AND (attribute_not_exists(#held) OR #held = :none)",
        "ExpressionAttributeNames": {"#closed": "closed", "#held": HELD},
        "ExpressionAttributeValues": {":true": {"BOOL": True}, ":none": {"S": "{}"}}})
    try:
        tx.commit()
    except db.ConditionsFailedError:
        return False  # another reader compacted it first
    return True


def _drain(client: Any, arn: str, state: ShardState, stats: ConsumeStats,
           time_left_s: Callable[[], float] | None, page_limit: int) -> None:
    if state.sequence is None:
        iterator = client.get_shard_iterator(StreamArn=arn, ShardId=state.shard_id,
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    else:
        iterator = client.get_shard_iterator(StreamArn=arn, ShardId=state.shard_id,
                                             ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                             SequenceNumber=state.sequence)["ShardIterator"]
    while iterator:
        if time_left_s is not None and time_left_s() < 5:
            stats.caught_up = False
            return
        read_at = utcnow() - dt.timedelta(seconds=STREAM_DELAY_S)
        answer = client.get_records(ShardIterator=iterator, Limit=page_limit)
        records, iterator = answer["Records"], answer.get("NextShardIterator")
        at_tip = not records or iterator is None
        if not apply_page(state, records, closed=iterator is None, tip_at=read_at if at_tip else None):
            stats.skipped_pages += 1
            stats.caught_up = False
            return  # another reader moved this shard on: the next pass continues from its item
        stats.pages += 1
        stats.records += len(records)
        stats.per_shard[state.shard_id] = stats.per_shard.get(state.shard_id, 0) + len(records)
        if not records:
            return


def read_summary(now: dt.datetime | None = None) -> dict[str, Any]:
    """The summary of API.md from the aggregate items, with ``as_of`` (every
    balance change committed before it is counted; None before the reader's
    first pass), ``lag_s`` and ``shards``."""
    items = _items()
    totals = dict.fromkeys(TOTALS, 0)
    negative = 0
    for item in items:
        for name in TOTALS:
            totals[name] += int(item.get(name) or 0)
        negative += int(item.get(NEGATIVE) or 0)
    seen_in_part = partial(_held_of(item) for item in items)
    for entry in seen_in_part.values():  # left out until whole
        for name, amount in entry.items():
            if name == NEGATIVE:
                negative -= amount
            else:
                totals[name] -= amount
    applied = [max(str(item.get("applied_through") or ""), str(item.get("read_to_tip_at") or ""))
               for item in items if not item.get("closed")]
    as_of = parse_iso(min(applied)) if applied and all(applied) else None
    funded = -totals[BUDGET_TOTAL]
    held = sum(totals[bucket] for bucket in accounts.SUMMARY_BUCKETS)
    moment = now or utcnow()
    return {
        "funded_satang": funded,
        **{bucket: totals[bucket] for bucket in accounts.SUMMARY_BUCKETS},
        "balanced": as_of is not None and funded == held and negative == 0,
        "negative_accounts": negative,
        "as_of": iso(as_of) if as_of else None,
        "lag_s": round(max(0.0, (moment - as_of).total_seconds()), 3) if as_of else None,
        "partial_transactions": len(seen_in_part),
        "shards": len(items),
        # not served: what each transaction read in part adds (the ledger check's)
        "partial": {tx: net(entry) for tx, entry in seen_in_part.items()},
    }
