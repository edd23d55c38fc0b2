"""A full check of the ledger: every balance equals what its transfers say.

``Ledger.summary`` proves the buckets add up; this proves more: replaying
every transfer record from zero gives exactly the stored balance of every
account, so no write changed a balance without a record or the reverse. It
scans both tables: for tests, audits and the nightly job, not for requests.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.ledger import accounts
from chalicelib.ledger.models import AccountModel, TransferModel

__all__ = ["AuditReport", "audit_ledger"]

SCAN_PAGE_SIZE = 1000


@dataclass
class AuditReport:
    accounts_checked: int = 0
    transfers_checked: int = 0
    # account id -> (stored balance, balance replayed from transfers)
    mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)
    negative: list[str] = field(default_factory=list)
    total_satang: int = 0  # sum of every balance: 0 in a closed double-entry ledger
    # (account id, tally) -> (stored, replayed): the in/out totals by kind
    # (accounts.TALLIES) that GET /v1/wallet shows, checked like balances.
    tally_mismatches: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.negative and self.total_satang == 0 and not self.tally_mismatches


def audit_ledger(progress: Callable[[str, int], None] | None = None) -> AuditReport:
    """The full check; ``progress(what, count)`` hears every page scanned (a long scan is not run blind)."""
    report = AuditReport()
    replayed: dict[str, int] = defaultdict(int)
    replayed_tallies: dict[tuple[str, str], int] = defaultdict(int)
    for record in TransferModel.scan(page_size=SCAN_PAGE_SIZE):
        amount = int(record.amount_satang)
        replayed[record.debit_account] -= amount
        replayed[record.credit_account] += amount
        for name, value in accounts.tallies_of(record.debit_account, "out", record.credit_account, amount).items():
            replayed_tallies[(record.debit_account, name)] += value
        for name, value in accounts.tallies_of(record.credit_account, "in", record.debit_account, amount).items():
            replayed_tallies[(record.credit_account, name)] += value
        report.transfers_checked += 1
        if progress is not None and report.transfers_checked % SCAN_PAGE_SIZE == 0:
            progress("transfers", report.transfers_checked)
    stored: dict[str, int] = {}
    stored_tallies: dict[tuple[str, str], int] = {}
    for account in AccountModel.scan(page_size=SCAN_PAGE_SIZE):
        stored[account.account_id] = int(account.balance_satang)
        if accounts.kind_of(account.account_id) in accounts.TALLIED_KINDS:
            stored_tallies.update({(account.account_id, name): account.tally(name) for name in accounts.TALLIES})
        report.accounts_checked += 1
        if progress is not None and report.accounts_checked % SCAN_PAGE_SIZE == 0:
            progress("accounts", report.accounts_checked)
    for key in stored_tallies.keys() | replayed_tallies.keys():
        have, want = stored_tallies.get(key, 0), replayed_tallies.get(key, 0)
        if have != want:
            report.tally_mismatches[key] = (have, want)
    for account_id in stored.keys() | replayed.keys():
        have, want = stored.get(account_id, 0), replayed.get(account_id, 0)
        if have != want:
            report.mismatches[account_id] = (have, want)
        if have < 0 and not accounts.may_go_negative(account_id):
            report.negative.append(account_id)
    report.total_satang = sum(stored.values())
    return report
