"""The ledger against a reference model, one operation at a time (Hypothesis
``RuleBasedStateMachine`` on moto in-process: sequential, so moto is exact).

The model is a dict of balances, the records the ledger should hold, the
QR markers used and the wallets' status. Each rule says what the ledger
must answer (created, a replay with the original record, or which error)
and what must move; an invariant compares every balance after every step,
and each run ends with ``audit_ledger`` and the summary. Rules: post (with
a debit condition and an extra write), post_linked (a shop's payment
funded from both its balances), post_batch from a treasury shard, hold /
settle / void, explicit replays (same id, same fields: nothing moves, the
original record comes back) and reused ids (same id, another field:
TransferMismatchError, nothing moves), and ``TransactionConflict`` injected
at the botocore level (``tests.faults``): fewer conflicts than the retry
bound change nothing, more are a 429 and move nothing.

Checked by hand that it catches the reused-id mutant (a reused transfer id
with other fields passes as a retry): with ``TransferRecord.same_as`` edited
to ignore ``amount_satang``, and in a second try ``credit_account``, each run
failed in its first examples with "DID NOT RAISE TransferMismatchError" (a
batch credit or a post with a reused id came back as a replay; the balances
stayed right, so only the model could tell); restored, it passes.

No shrinking: on moto it would take minutes past the suite's timeout; a
failing run is reported as generated, steps and draws listed.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from chalicelib import db
from chalicelib.ledger import (
    AccountModel,
    BatchCredit,
    ConditionFailedError,
    ExtraWrite,
    InsufficientFundsError,
    Ledger,
    PendingStateError,
    Transfer,
    TransferMismatchError,
    TransferModel,
    accounts,
    audit_ledger,
)
from chalicelib.payments.models import QrNonceModel
from tests.faults import ConflictInjector
from tests.invariants import drained_summary

SHARD = accounts.treasury_shard("p", 0)
WALLETS = [accounts.wallet_account(f"w{i}") for i in range(3)]
SHOPS = ["m0", "m1"]
SPENDABLE = [accounts.merchant_spendable(m) for m in SHOPS]
WITHDRAWABLE = [accounts.merchant_withdrawable(m) for m in SHOPS]
IN_FLIGHT = accounts.in_flight("004")
PAY_TO = [accounts.paid_out("004"), accounts.paid_out("006")]
IDS = [f"t{i}" for i in range(16)]  # few ids: replays and reuses happen by themselves too
ISSUANCE_IDS = [f"iss{i}" for i in range(6)]
NONCES = [f"n{i}" for i in range(4)]
ACTIVE, SUSPENDED = "active", "suspended"
FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC)

amounts = st.integers(1, 3_000)
fingerprints = st.sampled_from([None, "f1", "f2"])


@dataclass(frozen=True)
class Stored:
    """What the model says a record holds."""

    kind: str
    debit_account: str
    credit_account: str
    amount_satang: int
    fingerprint: str | None = None
    post_to: str | None = None
    state: str = "posted"


def _stored_of(record: Any) -> Stored:
    return Stored(record.kind, record.debit_account, record.credit_account, record.amount_satang,
                  record.fingerprint, record.post_to, record.state)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        for model in (TransferModel, AccountModel, QrNonceModel):
            with model.batch_write() as batch:
                for item in model.scan():
                    batch.delete(item)
        self.ledger = Ledger()
        self.faults = ConflictInjector().__enter__()
        self.balances: dict[str, int] = {}
        self.exists: set[str] = set()  # accounts that have a balance item
        self.status: dict[str, str] = {}
        self.records: dict[str, Stored] = {}
        self.nonces: set[str] = set()
        self.funding = itertools.count()

    # -- the model's own arithmetic ------------------------------------------------

    def _move(self, debit: str, credit: str, amount: int) -> None:
        self.balances[debit] = self.balances.get(debit, 0) - amount
        self.balances[credit] = self.balances.get(credit, 0) + amount
        self.exists.update((debit, credit))

    def _covers(self, account: str, amount: int) -> bool:
        return account in self.exists and (accounts.may_go_negative(account) or self.balances[account] >= amount)

    def _expect_error(self, error: type[Exception], call: Any, **attributes: Any) -> Exception:
        before = dict(self.balances)
        with pytest.raises(error) as caught:
            call()
        for name, value in attributes.items():
            assert getattr(caught.value, name) == value, (name, caught.value)
        assert self.balances == before
        return caught.value

    # -- set-up ---------------------------------------------------------------------

    @initialize(treasury=st.integers(0, 60_000), seeds=st.lists(st.integers(0, 8_000), min_size=7, max_size=7))
    def fund_and_seed(self, treasury: int, seeds: list[int]) -> None:
        """Money everywhere from the start, so that every rule has something
        to move: the treasury funded, and seeds from it to the wallets
        (active) and both balances of each shop."""
        self.fund(treasury + sum(seeds))  # type: ignore[call-arg]  (a rule, called as a step here)
        owners = WALLETS + SPENDABLE + WITHDRAWABLE
        credits = [BatchCredit(f"seed{i}", owner, amount, credit_sets={"status": ACTIVE} if owner in WALLETS else None)
                   for i, (owner, amount) in enumerate(zip(owners, seeds, strict=True)) if amount]
        if credits:
            assert len(self.ledger.post_batch([SHARD], credits, "seed").created) == len(credits)
        for credit in credits:
            self._move(SHARD, credit.credit_account, credit.amount_satang)
            self.records[credit.transfer_id] = Stored("seed", SHARD, credit.credit_account, credit.amount_satang)
            if credit.credit_account in WALLETS:
                self.status[credit.credit_account] = ACTIVE

    @precondition(lambda self: self.balances.get(SHARD, 0) < 5_000)
    @rule(amount=st.integers(1, 20_000))
    def fund(self, amount: int) -> None:
        if not amount:
            return
        tid = f"fund{next(self.funding)}"
        result = self.ledger.post_batch([accounts.BUDGET_ACCOUNT], [BatchCredit(tid, SHARD, amount)], "funding")
        assert [r.transfer_id for r in result.created] == [tid]
        self._move(accounts.BUDGET_ACCOUNT, SHARD, amount)
        self.records[tid] = Stored("funding", accounts.BUDGET_ACCOUNT, SHARD, amount)

    # -- post_batch: issuance from the shard --------------------------------------------

    @rule(data=st.data(), count=st.integers(1, 3))
    def issue(self, data: st.DataObject, count: int) -> None:
        wallets = data.draw(st.permutations(WALLETS))[:count]  # one credit per wallet: one transaction
        credits = [BatchCredit(data.draw(st.sampled_from(ISSUANCE_IDS)), w, data.draw(amounts),
                               credit_sets={"status": ACTIVE}) for w in wallets]
        if len({c.transfer_id for c in credits}) < len(credits):
            return
        wanted = {c.transfer_id: Stored("issuance", SHARD, c.credit_account, c.amount_satang) for c in credits}
        if any(tid in self.records and self.records[tid] != stored for tid, stored in wanted.items()):
            self._expect_error(TransferMismatchError, lambda: self.ledger.post_batch([SHARD], credits, "issuance"))
            return
        new = [c for c in credits if c.transfer_id not in self.records]
        result = self.ledger.post_batch([SHARD], credits, "issuance")
        assert sorted(r.transfer_id for r in result.existing) == sorted(
            c.transfer_id for c in credits if c.transfer_id in self.records)
        if self._covers(SHARD, sum(c.amount_satang for c in new)):
            funded = new
        else:  # no transaction of them all: each alone, in order, from what is left
            funded, left = [], self.balances.get(SHARD, 0)
            for credit in new:
                if SHARD in self.exists and left >= credit.amount_satang:
                    funded.append(credit)
                    left -= credit.amount_satang
        assert [r.transfer_id for r in result.created] == [c.transfer_id for c in funded]
        assert [c.transfer_id for c in result.unfunded] == [c.transfer_id for c in new if c not in funded]
        for credit in funded:
            self._move(SHARD, credit.credit_account, credit.amount_satang)
            self.records[credit.transfer_id] = wanted[credit.transfer_id]
            self.status[credit.credit_account] = ACTIVE

    @precondition(lambda self: any(s.kind == "issuance" for s in self.records.values()))
    @rule(data=st.data())
    def replay_an_issue(self, data: st.DataObject) -> None:
        """A batch delivered again: every credit in it exists, nothing moves."""
        issued = sorted(tid for tid, s in self.records.items() if s.kind == "issuance")
        tids = data.draw(st.lists(st.sampled_from(issued), min_size=1, max_size=3, unique=True))
        if len({self.records[t].credit_account for t in tids}) < len(tids):
            return
        credits = [BatchCredit(t, self.records[t].credit_account, self.records[t].amount_satang) for t in tids]
        result = self.ledger.post_batch([SHARD], credits, "issuance")
        assert not result.created and not result.unfunded
        assert sorted(r.transfer_id for r in result.existing) == sorted(tids)

    @rule(wallet=st.sampled_from(WALLETS))
    def suspend(self, wallet: str) -> None:
        if wallet not in self.exists:
            return
        AccountModel(wallet).update(actions=[AccountModel.status.set(SUSPENDED)])
        self.status[wallet] = SUSPENDED

    # -- post, with a debit condition and an extra write ------------------------------------

    def _post(self, transfer: Transfer, active_only: bool, nonce: str | None, conflicts: int = 0) -> None:
        condition = AccountModel.status == ACTIVE if active_only else None
        extra = [ExtraWrite("qr", QrNonceModel(nonce, transfer_id=transfer.transfer_id, merchant_id="m",
                                               expires_ttl=FAR_FUTURE), QrNonceModel.nonce.does_not_exist())
                 ] if nonce else []
        call = lambda: self.ledger.post(transfer, debit_condition=condition, extra=extra)  # noqa: E731
        wanted = Stored(transfer.kind, transfer.debit_account, transfer.credit_account, transfer.amount_satang,
                        transfer.fingerprint)
        self.faults.arm(conflicts)
        try:
            if conflicts >= db.TRANSACTION_ATTEMPTS_MAX:
                self._expect_error(db.RetriesExhaustedError, call)
            elif transfer.transfer_id in self.records:
                stored = self.records[transfer.transfer_id]
                if replace(stored, state="posted") != wanted:
                    self._expect_error(TransferMismatchError, call)
                else:
                    posted = call()
                    assert not posted.created and _stored_of(posted.record) == stored
            elif nonce in self.nonces:
                self._expect_error(ConditionFailedError, call, tag="qr")
            elif not self._covers(transfer.debit_account, transfer.amount_satang):
                self._expect_error(InsufficientFundsError, call, account_id=transfer.debit_account)
            elif active_only and self.status.get(transfer.debit_account) != ACTIVE:
                self._expect_error(ConditionFailedError, call, tag="debit")
            else:
                posted = call()
                assert posted.created and _stored_of(posted.record) == wanted
                self._move(transfer.debit_account, transfer.credit_account, transfer.amount_satang)
                self.records[transfer.transfer_id] = wanted
                if nonce:
                    self.nonces.add(nonce)
        finally:
            self.faults.arm(0)

    @rule(tid=st.sampled_from(IDS), debit=st.sampled_from(WALLETS + SPENDABLE),
          credit=st.sampled_from(SPENDABLE + WITHDRAWABLE), amount=amounts, fingerprint=fingerprints,
          active_only=st.booleans(), nonce=st.none() | st.sampled_from(NONCES),
          conflicts=st.sampled_from([0] * 5 + [1, db.TRANSACTION_ATTEMPTS_MAX - 1, db.TRANSACTION_ATTEMPTS_MAX]))
    def post(self, tid: str, debit: str, credit: str, amount: int, fingerprint: str | None, active_only: bool,
             nonce: str | None, conflicts: int) -> None:
        if debit == credit:
            return
        self._post(Transfer(tid, debit, credit, amount, "payment", fingerprint=fingerprint), active_only, nonce,
                   conflicts)

    def _posts(self) -> list[str]:
        return [tid for tid, s in self.records.items() if s.kind == "payment"]

    @precondition(lambda self: bool(self._posts()))
    @rule(data=st.data())
    def replay_a_post(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from(self._posts()))
        s = self.records[tid]
        self._post(Transfer(tid, s.debit_account, s.credit_account, s.amount_satang, s.kind, s.fingerprint),
                   active_only=data.draw(st.booleans()), nonce=data.draw(st.none() | st.sampled_from(NONCES)))

    @precondition(lambda self: bool(self.records))
    @rule(data=st.data(), change=st.sampled_from(["amount", "credit", "debit", "fingerprint", "kind"]))
    def reuse_an_id(self, data: st.DataObject, change: str) -> None:
        """The same id with one field changed: never a retry, whatever the record was."""
        tid = data.draw(st.sampled_from(sorted(self.records)))
        s = self.records[tid]
        transfer = Transfer(tid, s.debit_account, s.credit_account, s.amount_satang, s.kind, s.fingerprint)
        others = {
            "amount": {"amount_satang": s.amount_satang + 1},
            "credit": {"credit_account": next(a for a in WITHDRAWABLE if a not in (s.credit_account, s.debit_account))},
            "debit": {"debit_account": next(a for a in WALLETS if a not in (s.credit_account, s.debit_account))},
            "fingerprint": {"fingerprint": "other"},
            "kind": {"kind": "other_kind"},
        }
        self._expect_error(TransferMismatchError, lambda: self.ledger.post(replace(transfer, **others[change])))

    # -- post_linked: a shop pays a shop from both its balances ---------------------------------

    @rule(tid=st.sampled_from(IDS), payer=st.sampled_from(SHOPS), amount=amounts,
          from_withdrawable=st.integers(0, 3_000), conflicts=st.sampled_from([0, 0, 1]))
    def post_linked(self, tid: str, payer: str, amount: int, from_withdrawable: int, conflicts: int) -> None:
        payee = next(m for m in SHOPS if m != payer)
        spendable, withdrawable = accounts.merchant_spendable(payer), accounts.merchant_withdrawable(payer)
        from_withdrawable = min(from_withdrawable, amount)
        main = Transfer(tid, spendable, accounts.merchant_withdrawable(payee), amount, "merchant_payment")
        linked = [Transfer(f"{tid}.funding", withdrawable, spendable, from_withdrawable, "merchant_funding")
                  ] if from_withdrawable else []
        call = lambda: self.ledger.post_linked(main, linked)  # noqa: E731
        wanted = Stored(main.kind, main.debit_account, main.credit_account, amount)
        self.faults.arm(conflicts)
        try:
            if tid in self.records:
                if replace(self.records[tid], state="posted") != wanted:
                    self._expect_error(TransferMismatchError, call)
                else:
                    posted = call()
                    assert not posted.created and _stored_of(posted.record) == self.records[tid]
                return
            short = [a for a, debit in ((spendable, amount - from_withdrawable), (withdrawable, from_withdrawable))
                     if debit > 0 and not self._covers(a, debit)]
            if short:
                error = self._expect_error(InsufficientFundsError, call)
                assert error.account_id in short  # type: ignore[attr-defined]
                return
            posted = call()
        finally:
            self.faults.arm(0)
        assert posted.created and _stored_of(posted.record) == wanted
        spendable_existed = spendable in self.exists
        self._move(spendable, main.credit_account, amount)
        self.records[tid] = wanted
        if linked:
            self._move(withdrawable, spendable, from_withdrawable)
            self.records[linked[0].transfer_id] = Stored("merchant_funding", withdrawable, spendable,
                                                         from_withdrawable)
        if from_withdrawable == amount and not spendable_existed:
            # All of it from withdrawable: spendable's net change is zero and
            # the ledger writes no update for it (one update per account, by
            # its net change), so it still does not exist.
            self.exists.discard(spendable)

    # -- two-phase: hold, settle, void --------------------------------------------------

    @rule(tid=st.sampled_from(IDS), debit=st.sampled_from(WITHDRAWABLE), amount=amounts,
          post_to=st.sampled_from(PAY_TO))
    def hold(self, tid: str, debit: str, amount: int, post_to: str) -> None:
        transfer = Transfer(tid, debit, IN_FLIGHT, amount, "withdrawal")
        call = lambda: self.ledger.hold(transfer, post_to=post_to)  # noqa: E731
        wanted = Stored("withdrawal", debit, IN_FLIGHT, amount, None, post_to, "pending")
        if tid in self.records:
            stored = self.records[tid]
            if replace(stored, state="pending") != wanted:
                self._expect_error(TransferMismatchError, call)
            else:
                posted = call()
                assert not posted.created and _stored_of(posted.record) == stored
        elif not self._covers(debit, amount):
            self._expect_error(InsufficientFundsError, call, account_id=debit)
        else:
            posted = call()
            assert posted.created and _stored_of(posted.record) == wanted
            self._move(debit, IN_FLIGHT, amount)
            self.records[tid] = wanted

    @rule(data=st.data(), outcome=st.sampled_from(["posted", "voided"]), conflicts=st.sampled_from([0, 0, 1]))
    def resolve(self, data: st.DataObject, outcome: str, conflicts: int) -> None:
        holds = sorted(tid for tid, s in self.records.items() if s.post_to is not None)
        tid = data.draw(st.sampled_from(holds) if holds and data.draw(st.integers(0, 3)) else st.sampled_from(IDS))
        call = (lambda: self.ledger.settle(tid)) if outcome == "posted" else (lambda: self.ledger.void(tid))
        move_id = f"{tid}.{'post' if outcome == 'posted' else 'void'}"
        held = self.records.get(tid)
        self.faults.arm(conflicts)
        try:
            if held is None or held.post_to is None:
                self._expect_error(PendingStateError, call, state=None)
            elif held.state == outcome:
                posted = call()
                assert not posted.created and posted.record.transfer_id == move_id
            elif held.state != "pending":
                self._expect_error(PendingStateError, call, state=held.state)
            else:
                posted = call()
                to = held.post_to if outcome == "posted" else held.debit_account
                assert posted.created and _stored_of(posted.record) == Stored(
                    f"withdrawal_{outcome}", IN_FLIGHT, to, held.amount_satang)
                self._move(IN_FLIGHT, to, held.amount_satang)
                self.records[tid] = replace(held, state=outcome)
                self.records[move_id] = _stored_of(posted.record)
        finally:
            self.faults.arm(0)

    # -- checks ---------------------------------------------------------------------------

    @invariant()
    def every_balance_is_the_models(self) -> None:
        stored = {a.account_id: int(a.balance_satang) for a in self.ledger.iter_accounts()}
        assert stored == {a: self.balances[a] for a in self.exists}

    def teardown(self) -> None:
        try:
            for tid, wanted in self.records.items():
                record = self.ledger.get_transfer(tid)
                assert record is not None and _stored_of(record) == wanted, tid
            assert TransferModel.count() == len(self.records)
            # An extra write is written with its transfer or not at all.
            assert {m.nonce for m in QrNonceModel.scan()} == self.nonces
            report = audit_ledger()
            assert report.ok, report
            summary = drained_summary()
            assert summary["balanced"] is True
            assert summary["funded_satang"] == -self.balances.get(accounts.BUDGET_ACCOUNT, 0)
        finally:
            self.faults.__exit__()


def test_the_ledger_behaves_as_its_model(moto_aws, monkeypatch):
    # Injected conflicts are retried with jitter: keep the waits tiny.
    monkeypatch.setattr(db, "RETRY_BACKOFF_BASE_S", 0.0001)
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=15, stateful_step_count=30, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
