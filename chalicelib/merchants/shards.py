"""A shop's balances split into shards (CAPACITY.md, Hot items): which
items they are, what they hold together, and how a debit draws across them.

A wholesaler paid by thousands of shops would otherwise take every credit on
one item, past half its partition's write limit at the launch's peak. Each
credit lands on one shard (``accounts.merchant_shard_of`` of its transfer
id); a read sums the shards (one BatchGetItem); a debit (a withdrawal, or a
round 2 payment by the shop) draws the shards it needs into shard 0 in the
same transaction as the debit itself: one atomic, idempotent ledger
transfer, each shard's leg conditional on its own balance. Pure functions
of data: the callers read and post.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chalicelib.ledger import InsufficientFundsError, Ledger, Transfer, accounts

__all__ = ["Leg", "shard_count", "shard_accounts", "total_of", "plan_draw", "draw_transfers",
           "shard_suffix", "SWEEP_KIND", "legs_that_fit", "sweep"]

# The internal move of a withdrawal's other shards into shard 0: not shown
# in the shop's transaction list (like round 2's ``merchant_funding``).
SWEEP_KIND = "merchant_sweep"


@dataclass(frozen=True)
class Leg:
    account_id: str
    amount_satang: int


def shard_count(configured: float | None) -> int:
    """A shop's shard count: 1 unless an operator raised it (bounded)."""
    return max(1, min(int(configured or 1), accounts.MERCHANT_SHARDS_MAX))


def shard_accounts(account_of: Callable[[str, int], str], merchant_id: str, shards: int) -> list[str]:
    """Every shard of one of a shop's balances, shard 0 first. The count is
    only ever raised (merchants.service), so the shards that hold money are
    always among these."""
    return [account_of(merchant_id, shard) for shard in range(shard_count(shards))]


def total_of(balances: Mapping[str, int], shard_ids: Sequence[str]) -> int:
    return sum(max(balances.get(a, 0), 0) for a in shard_ids)


def plan_draw(balances: Mapping[str, int], shard_ids: Sequence[str], amount_satang: int) -> list[Leg] | None:
    """Which shards pay ``amount_satang`` and how much each: the fewest
    legs (largest balance first, shard 0 first among equals), so that a
    debit touches as few items as it can and an ordinary shop's single
    shard is its only leg. None when the shards together do not cover it."""
    if amount_satang <= 0:
        return []
    order = sorted(range(len(shard_ids)), key=lambda i: (-max(balances.get(shard_ids[i], 0), 0), i))
    legs: list[Leg] = []
    left = amount_satang
    for index in order:
        have = max(balances.get(shard_ids[index], 0), 0)
        if left == 0 or have == 0:
            break
        part = min(have, left)
        legs.append(Leg(shard_ids[index], part))
        left -= part
    return legs if left == 0 else None


def draw_transfers(transfer_id: str, legs: Sequence[Leg], into: str, kind: str,
                   name_of: Callable[[str], str]) -> list[Transfer]:
    """The linked transfers that bring the legs not on ``into`` there, in
    the debit's own transaction (``Ledger.post_linked`` / ``hold``): one
    record each (the audit replays them), ``<transfer_id>.<name_of(leg)>``
    so that a replay of the debit reuses the same ids."""
    return [Transfer(f"{transfer_id}.{name_of(leg.account_id)}", leg.account_id, into, leg.amount_satang, kind)
            for leg in legs if leg.account_id != into and leg.amount_satang > 0]


def shard_suffix(account_id: str) -> str:
    """``w03`` / ``s00``: the kind's initial and the shard of a shop's balance."""
    tail = account_id.partition(":")[2].partition(":")[2]
    return f"{accounts.kind_of(account_id).value.split('_')[1][0]}{tail or '00'}"


def legs_that_fit(item_limit: int) -> int:
    """Legs one debit may draw in its transaction: each leg is a record and
    a balance, beside the debit's own record, the credit and one extra item
    (a payout record or a QR marker): 2 x legs + 3 <= the item limit (100 on
    AWS: 48 legs; 10 on DynamoDB Local: 3)."""
    return max(1, (item_limit - 3) // 2)


def sweep(ledger: Ledger, transfer_id: str, legs: Sequence[Leg]) -> None:
    """A debit that needs more legs than fit in one transaction first moves
    its shards into shard 0 of their own kind (spendable into spendable,
    withdrawable into withdrawable: what may be withdrawn stays so), in
    transactions that fit; then it plans again and draws from fewer legs.
    A move between one shop's own shards changes none of its figures, so
    these need no idempotency of their own (a new id each time); each leg is
    conditional on its balance, and one that a race made short is skipped."""
    moves = [Transfer(f"{transfer_id}.sweep.{uuid.uuid4().hex[:12]}.{shard_suffix(leg.account_id)}",
                      leg.account_id, accounts.base_account(leg.account_id), leg.amount_satang, SWEEP_KIND)
             for leg in legs if leg.account_id != accounts.base_account(leg.account_id)]
    per_transaction = max(1, (ledger.item_limit - 1) // 2)
    for kind in sorted(accounts.MERCHANT_KINDS):
        mine = [m for m in moves if accounts.kind_of(m.debit_account) is kind]
        for start in range(0, len(mine), per_transaction):
            chunk = mine[start:start + per_transaction]
            try:
                ledger.post_linked(chunk[0], chunk[1:])
            except InsufficientFundsError:
                continue  # a race moved one of them: the next plan sees what is left
