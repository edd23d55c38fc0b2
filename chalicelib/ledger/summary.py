"""The ledger summary of API.md: the full scan of every balance (the
auditor's offline check, ``python -m devstack audit``) and the O(buckets)
summary the API serves (chalicelib/ledger/stream_summary.py)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.ledger import accounts, stream_summary
from chalicelib.ledger.models import AccountModel

__all__ = ["SCAN_PAGE_SIZE", "iter_accounts", "scan_summary", "summary"]

SCAN_PAGE_SIZE = 1000


def iter_accounts() -> Iterator[AccountModel]:
    return AccountModel.scan(page_size=SCAN_PAGE_SIZE)


def summary() -> dict[str, Any]:
    """The summary from the stream's aggregate items: O(stream shards x
    buckets) to read, exact at quiescence, ``as_of`` under traffic."""
    return stream_summary.read_summary()


def scan_summary() -> dict[str, Any]:
    """Every balance read (O(accounts); a scan under traffic is no snapshot).
    ``balanced`` holds when what the budget funded equals the sum of
    every other bucket and no account that may not go below zero did."""
    buckets = dict.fromkeys(accounts.SUMMARY_BUCKETS, 0)
    funded = 0
    negative = []
    for account in iter_accounts():
        balance = int(account.balance_satang)
        bucket = accounts.bucket_of(account.account_id)
        if bucket is None:
            funded -= balance
        else:
            buckets[bucket] += balance
        if balance < 0 and not accounts.may_go_negative(account.account_id):
            negative.append(account.account_id)
    held = sum(buckets.values())
    return {
        "funded_satang": funded,
        **buckets,
        "balanced": funded == held and not negative,
        "negative_accounts": len(negative),
    }
