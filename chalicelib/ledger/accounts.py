"""Account identities: kinds, buckets of the ledger summary, history owners.

An account id is ``<kind>:<rest>``, so that the kind (and with it the bucket
and the no-overdraft rule) is known from the id alone, without a read.
"""
from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from chalicelib.limits import MERCHANT_BALANCE_SHARDS_MAX

__all__ = [
    "AccountKind",
    "LAST_TX",
    "TALLIES",
    "TALLY_DIRECTIONS",
    "tally_name",
    "tallies_of",
    "TALLIED_KINDS",
    "COUNTED_KINDS",
    "check_counter",
    "BUDGET_ACCOUNT",
    "kind_of",
    "bucket_of",
    "may_go_negative",
    "history_key_of",
    "treasury_shard",
    "wallet_account",
    "merchant_spendable",
    "merchant_withdrawable",
    "MERCHANT_KINDS",
    "MERCHANT_SHARDS_MAX",
    "merchant_shard_of",
    "merchant_of",
    "base_account",
    "in_flight",
    "paid_out",
    "returned",
    "SUMMARY_BUCKETS",
]


class AccountKind(StrEnum):
    BUDGET = "budget"
    TREASURY = "treasury"
    WALLET = "wallet"
    MERCHANT_SPENDABLE = "merchant_spendable"
    MERCHANT_WITHDRAWABLE = "merchant_withdrawable"
    IN_FLIGHT = "in_flight"
    PAID_OUT = "paid_out"
    RETURNED = "returned"


# The government budget account: the one account that may go below zero.
# Its negated balance is what has ever been funded into the program.
BUDGET_ACCOUNT = "budget:government"

# Summary bucket (API.md ledger summary field) of each kind. ``funded_satang``
# is the budget account's balance negated; it equals the sum of the others.
_BUCKETS = {
    AccountKind.TREASURY: "treasury_satang",
    AccountKind.WALLET: "wallets_satang",
    AccountKind.MERCHANT_SPENDABLE: "merchants_spendable_satang",
    AccountKind.MERCHANT_WITHDRAWABLE: "merchants_withdrawable_satang",
    AccountKind.IN_FLIGHT: "in_flight_satang",
    AccountKind.PAID_OUT: "paid_out_satang",
    AccountKind.RETURNED: "returned_satang",
}
SUMMARY_BUCKETS = tuple(_BUCKETS.values())


# A wallet's balance item keeps, beside its balance, what came in from and
# went out to each kind of account, added in the same update as the balance
# (no extra item, no second write): its credited and spent amounts are read
# from its one item (GET /v1/wallet is O(1)), not summed over its history.
# Only wallets: a shop's balance can be a pass-through in a linked posting
# (net change zero, so no update is sent for it), where a tally would be lost.
TALLY_DIRECTIONS = ("in", "out")
TALLIES = tuple(f"{direction}_{kind.value}_satang" for direction in TALLY_DIRECTIONS for kind in AccountKind)
TALLIED_KINDS = frozenset({AccountKind.WALLET})


# A source's balance item may keep its callers' counters beside its balance,
# added in the same write as the debit: a phase's treasury shard counts the
# credits it paid (credits per tranche, citizens per wave), so that the
# phase's progress is exact against the ledger even when the process dies
# right after the transaction. No item is added to the transaction.
COUNTED_KINDS = frozenset({AccountKind.TREASURY})
_COUNTER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# The id of the transaction that last wrote a balance item (db.Transaction.id).
LAST_TX = "last_tx"
_NOT_COUNTERS = frozenset({"account_id", "balance_satang", "kind", "status", "expires_at", LAST_TX, *TALLIES})


def check_counter(account_id: str, name: str) -> None:
    """Refuse a counter on a kind that keeps none, or one named as an attribute of the ledger's."""
    if kind_of(account_id) not in COUNTED_KINDS:
        raise ValueError(f"{kind_of(account_id).value} accounts keep no counters")
    if not _COUNTER_NAME.match(name) or name in _NOT_COUNTERS:
        raise ValueError(f"{name!r} cannot be a counter of a balance item")


def tallies_of(account_id: str, direction: str, counterparty_account: str, amount_satang: int) -> dict[str, int]:
    """The tallies a move adds to ``account_id``: none unless its kind keeps them."""
    if kind_of(account_id) not in TALLIED_KINDS:
        return {}
    return {tally_name(direction, counterparty_account): amount_satang}


def tally_name(direction: str, counterparty_account: str) -> str:
    """``in_treasury_satang``: the tally of money in from (``out``: to) the
    counterparty's kind of account."""
    if direction not in TALLY_DIRECTIONS:
        raise ValueError(f"a tally is {' or '.join(TALLY_DIRECTIONS)}, not {direction}")
    return f"{direction}_{kind_of(counterparty_account).value}_satang"


def kind_of(account_id: str) -> AccountKind:
    prefix, sep, rest = account_id.partition(":")
    if not sep or not rest:
        raise ValueError(f"account id {account_id!r} is not <kind>:<id>")
    return AccountKind(prefix)


def bucket_of(account_id: str) -> str | None:
    """The summary bucket of an account; None for the budget account."""
    return _BUCKETS.get(kind_of(account_id))


def may_go_negative(account_id: str) -> bool:
    return account_id == BUDGET_ACCOUNT


def history_key_of(account_id: str) -> str | None:
    """Whose transaction list a transfer on this account appears in.

    Only wallets and merchants have one. System accounts (treasury shards,
    budget, bank buckets) get none, so that the sparse history indexes never
    take a hot partition key: a treasury shard is debited by millions of
    issuance transfers.
    """
    kind = kind_of(account_id)
    rest = account_id.partition(":")[2]
    if kind is AccountKind.WALLET:
        return account_id
    if kind in MERCHANT_KINDS:
        return f"merchant:{rest.partition(':')[0]}"
    return None


def treasury_shard(phase_id: str, shard: int) -> str:
    return f"treasury:{phase_id}:{shard:03d}"


def wallet_account(wallet_id: str) -> str:
    return f"wallet:{wallet_id}"


# A shop's two balances, each split into ``shards`` items the way the
# treasury is (CAPACITY.md, Hot items): shard 0 keeps the unsharded id, so an
# ordinary shop (one shard) has the ids and costs it always had; shard k > 0
# is ``<kind>:<merchant_id>:<kk>``, of the same kind and bucket. A credit
# lands on the shard its transfer id picks; reads and debits take them all.
MERCHANT_KINDS = frozenset({AccountKind.MERCHANT_SPENDABLE, AccountKind.MERCHANT_WITHDRAWABLE})
MERCHANT_SHARDS_MAX = MERCHANT_BALANCE_SHARDS_MAX


def merchant_spendable(merchant_id: str, shard: int = 0) -> str:
    return _merchant_account(AccountKind.MERCHANT_SPENDABLE, merchant_id, shard)


def merchant_withdrawable(merchant_id: str, shard: int = 0) -> str:
    return _merchant_account(AccountKind.MERCHANT_WITHDRAWABLE, merchant_id, shard)


def _merchant_account(kind: AccountKind, merchant_id: str, shard: int) -> str:
    if not 0 <= shard < MERCHANT_SHARDS_MAX:
        raise ValueError(f"a shop's balance shard is 0 to {MERCHANT_SHARDS_MAX - 1}, not {shard}")
    return f"{kind.value}:{merchant_id}" if shard == 0 else f"{kind.value}:{merchant_id}:{shard:02d}"


def merchant_shard_of(transfer_id: str, shards: int) -> int:
    """The shard a credit lands on: from its transfer id, so that a replay
    of the same id lands on the same shard (and is a replay, not a second
    credit). A stable hash (not Python's salted ``hash``): every container
    and every retry picks the same."""
    if shards <= 1:
        return 0
    digest = hashlib.blake2b(transfer_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % min(shards, MERCHANT_SHARDS_MAX)


def merchant_of(account_id: str) -> str:
    """The shop of a shop's balance (any shard)."""
    if kind_of(account_id) not in MERCHANT_KINDS:
        raise ValueError(f"account {account_id!r} is not a shop's balance")
    return account_id.partition(":")[2].partition(":")[0]


def base_account(account_id: str) -> str:
    """Shard 0 of a shop's balance (the unsharded id); any other account as is."""
    if kind_of(account_id) in MERCHANT_KINDS:
        return f"{kind_of(account_id).value}:{merchant_of(account_id)}"
    return account_id


def in_flight(bank_code: str, shard: int | None = None) -> str:
    """Money on its way to a bank; ``shard`` splits one bank's holding
    account into items, since every payout of the bank passes through it."""
    return f"in_flight:{bank_code}" if shard is None else f"in_flight:{bank_code}:{shard:02d}"


def paid_out(bank_code: str, shard: int | None = None) -> str:
    return f"paid_out:{bank_code}" if shard is None else f"paid_out:{bank_code}:{shard:02d}"


def returned(phase_id: str) -> str:
    return f"returned:{phase_id}"
