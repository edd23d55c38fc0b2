"""Batched posting: many credits from one of several sources (treasury
shards), each transaction debiting its source once with the sum.

A transaction holds as many credits as the item limit allows (a record and
a balance update each, plus the source). A source that cannot cover it
hands it to the next; a credit that already exists is taken out and the
rest is posted again, so each is posted exactly once; a transaction that no
source covers is split into single credits (the remainders may still cover
some), and a single credit that no source covers is unfunded. A work list,
not recursion: every step either posts, removes a credit, tries the next
source or splits, so it ends.
"""
from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator, Sequence

from chalicelib import db
from chalicelib.ledger import accounts, items
from chalicelib.ledger.posting import Context, existing_record
from chalicelib.ledger.records import BatchCredit, BatchResult, Transfer, TransferRecord

__all__ = ["post_batch", "chunks", "stable_index", "ITEMS_PER_CREDIT"]

# A credit writes its record and its balance.
ITEMS_PER_CREDIT = 2


def stable_index(key: str, modulo: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % modulo


def chunks(credits: Sequence[BatchCredit], sources: Sequence[str], item_limit: int) -> Iterator[list[BatchCredit]]:
    """Transactions as full as the item limit allows, where no account
    appears twice: DynamoDB refuses two operations on one item."""
    per_tx = max(1, (item_limit - 1) // ITEMS_PER_CREDIT)
    chunk: list[BatchCredit] = []
    seen: set[str] = set()
    for credit in credits:
        if credit.credit_account in sources:
            raise ValueError(f"{credit.transfer_id} credits a source of its own batch")
        if len(chunk) == per_tx or credit.credit_account in seen:
            yield chunk
            chunk, seen = [], set()
        chunk.append(credit)
        seen.add(credit.credit_account)
    if chunk:
        yield chunk


def post_batch(ctx: Context, sources: Sequence[str], credits: Sequence[BatchCredit], kind: str) -> BatchResult:
    """Credit every credit once from one of ``sources``; see the module doc."""
    if not sources:
        raise ValueError("post_batch needs at least one source")
    result = BatchResult()
    work = deque(chunks(credits, sources, ctx.item_limit))
    while work:
        chunk = work.popleft()
        uncovered = _post_chunk(ctx, list(sources), chunk, kind, result)
        if len(uncovered) == 1:
            result.unfunded.extend(uncovered)
        elif uncovered:
            # Next, in their order: which credits a short budget still
            # funds does not depend on how the batch was cut.
            work.extendleft([credit] for credit in reversed(uncovered))
    return result


def _transfers(chunk: list[BatchCredit], source: str, kind: str) -> list[Transfer]:
    return [Transfer(c.transfer_id, source, c.credit_account, c.amount_satang, kind, details=c.details)
            for c in chunk]


def _post_chunk(ctx: Context, sources: list[str], chunk: list[BatchCredit], kind: str,
                result: BatchResult) -> list[BatchCredit]:
    """Post ``chunk`` from the first source that covers it; returns the
    credits that no source covered as one transaction (none when posted)."""
    first = stable_index(chunk[0].transfer_id, len(sources))
    order = sources[first:] + sources[:first]
    tried = 0
    while chunk and tried < len(order):
        source = order[tried]
        transfers = _transfers(chunk, source, kind)
        for transfer in transfers:
            transfer.check()
        records = [TransferRecord.of(t, source, ctx.clock()) for t in transfers]
        try:
            _commit(ctx, source, chunk, records)
        except db.ConditionsFailedError as exc:
            done = exc.keys(items.RECORD)
            if done:
                for transfer in _transfers([c for c in chunk if c.transfer_id in done], source, kind):
                    result.existing.append(existing_record(transfer, done[transfer.transfer_id], sources=sources))
                chunk = [c for c in chunk if c.transfer_id not in done]
                continue
            if source not in exc.keys(items.BALANCE):
                raise
            tried += 1  # this source cannot cover the sum: the next may
            continue
        result.transactions += 1
        result.created.extend(records)
        return []
    return chunk


def _commit(ctx: Context, source: str, chunk: list[BatchCredit], records: list[TransferRecord]) -> None:
    tx = ctx.transaction("post_batch")
    for record in records:
        items.put_record(tx, record)
    out: dict[str, int] = {}
    counters: dict[str, int] = {}
    for credit in chunk:
        for name, amount in (credit.source_counters or {}).items():
            counters[name] = counters.get(name, 0) + amount
        items.update_balance(tx, credit.credit_account, credit.amount_satang, sets=credit.credit_sets,
                             tallies=accounts.tallies_of(credit.credit_account, "in", source, credit.amount_satang))
        for name, amount in accounts.tallies_of(source, "out", credit.credit_account, credit.amount_satang).items():
            out[name] = out.get(name, 0) + amount
    items.update_balance(tx, source, -sum(c.amount_satang for c in chunk), tallies=out, counters=counters)
    tx.commit()
