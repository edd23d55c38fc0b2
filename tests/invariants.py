"""What must hold after every fault (tests/faults.py), read from the tables
themselves rather than from what the code under test says it did:

- the ledger audit: every balance equals the replay of its transfers, none
  below zero where that is not allowed, the whole ledger sums to zero, and
  the summary says balanced;
- no transfer twice: one ledger transfer per business event (a payment per
  Idempotency-Key, a credit per citizen and tranche, a payout per id);
- no citizen credited twice: each wallet's issuance equals one benefit;
- no payout paid twice: each hold resolved at most once (posted or voided,
  never both), the payout record's status agreeing with its hold, and the
  paid-out accounts holding exactly the settled payouts;
- nothing stuck without an alert: a payout still in flight is pending, sent
  and due later, or flagged for inquiry.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from chalicelib.ledger import Ledger, audit_ledger, stream_summary
from chalicelib.ledger.models import AccountModel, TransferModel
from chalicelib.payouts.models import PayoutModel

__all__ = ["Snapshot", "snapshot", "assert_invariants", "drained_summary"]


@dataclass
class Snapshot:
    transfers: dict[str, Any] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)
    payouts: dict[str, Any] = field(default_factory=dict)

    def kinds(self) -> Counter[str]:
        return Counter(t.kind for t in self.transfers.values())

    def of_kind(self, kind: str) -> list[Any]:
        return [t for t in self.transfers.values() if t.kind == kind]

    def balance(self, account_id: str) -> int:
        return self.balances.get(account_id, 0)


def snapshot() -> Snapshot:
    snap = Snapshot()
    snap.transfers = {t.transfer_id: t for t in TransferModel.scan()}
    snap.balances = {a.account_id: int(a.balance_satang) for a in AccountModel.scan()}
    snap.payouts = {p.payout_id: p for p in PayoutModel.scan()}
    return snap


def _credited_once(snap: Snapshot, benefit_satang: int | None) -> None:
    per_wallet: dict[str, int] = defaultdict(int)
    for record in snap.of_kind("issuance"):
        per_wallet[record.credit_account] += int(record.amount_satang)
    if benefit_satang is not None:
        twice = {w: s for w, s in per_wallet.items() if s != benefit_satang}
        assert not twice, f"wallets credited other than once: {twice}"


def _payouts_once(snap: Snapshot) -> None:
    paid_out = 0
    for payout_id, payout in snap.payouts.items():
        hold = snap.transfers.get(payout_id)
        assert hold is not None, f"payout {payout_id} has no hold in the ledger"
        assert int(hold.amount_satang) == int(payout.amount_satang)
        posted, voided = f"{payout_id}.post" in snap.transfers, f"{payout_id}.void" in snap.transfers
        assert not (posted and voided), f"payout {payout_id} both settled and returned"
        want = {"settled": (True, False, "posted"), "rejected": (False, True, "voided")}.get(
            payout.status, (False, False, "pending"))
        assert (posted, voided, hold.state) == want, \
            f"payout {payout_id} is {payout.status} but its hold is {hold.state} (post {posted}, void {voided})"
        if posted:
            paid_out += int(payout.amount_satang)
    in_paid_out = sum(v for k, v in snap.balances.items() if k.startswith("paid_out:"))
    assert in_paid_out == paid_out, f"paid-out accounts hold {in_paid_out}, settled payouts {paid_out}"


def assert_invariants(benefit_satang: int | None = None) -> Snapshot:
    """Every invariant above; returns the snapshot for the test's own counts."""
    report = audit_ledger()
    assert report.ok, report
    assert drained_summary()["balanced"] is True
    snap = snapshot()
    _credited_once(snap, benefit_satang)
    _payouts_once(snap)
    return snap


def drained_summary() -> dict[str, Any]:
    """The ledger summary the API serves, after its reader has drained the
    balances' stream (what it says at quiescence), checked against the
    auditor's full scan: every bucket, ``balanced`` and the negative accounts.
    ``as_of``/``lag_s`` are checked present and left out of what it returns."""
    stream_summary.consume()
    kept = Ledger().summary()
    scanned = Ledger().scan_summary()
    assert {k: kept[k] for k in scanned} == scanned, f"stream summary {kept} != scan {scanned}"
    assert kept["as_of"] is not None and kept["lag_s"] is not None
    assert kept["partial_transactions"] == 0, "at quiescence every transaction is read whole"
    # Without its time fields, so that "nothing moved" compares two readings.
    return {k: v for k, v in kept.items() if k not in ("as_of", "lag_s")}
