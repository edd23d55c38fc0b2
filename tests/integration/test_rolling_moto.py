"""Rolling activation on moto, single-threaded: waves credited while
registration is open, citizens accepted after their wave's time credited
through their mark without anyone calling activate, exactly once through
crashes and duplicates, two tranches on the moved clock, the budget.
Concurrent registration and activation: tests/concurrency/test_rolling_races.py."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from chalicelib import rolling
from chalicelib.activation import late, service
from chalicelib.activation.models import RunModel, run_key
from chalicelib.activation.progress import progress, totals
from chalicelib.activation.source import MemoryPhaseSource
from chalicelib.clock import iso
from chalicelib.eligibility import Citizen, PhaseRules
from chalicelib.ledger import BatchCredit, Ledger, TransferModel, accounts, audit_ledger
from chalicelib.pii import hash_id
from chalicelib.registration.models import RegistrationModel
from chalicelib.registration.service import register
from tests.integration.test_activation_moto import AMOUNT, PHASE, FakeQueue, fund, treasury
from tests.invariants import drained_summary

pytestmark = pytest.mark.integration

MARGIN = timedelta(seconds=rolling.MARGIN_S + 1)


def cids(count: int, offset: int = 0) -> list[str]:
    """Valid Thai IDs (mod-11 check digit)."""
    out = []
    for n in range(offset, offset + count):
        body = f"1{n:011d}"
        check = (11 - sum(int(d) * (13 - i) for i, d in enumerate(body)) % 11) % 10
        out.append(body + str(check))
    return out


def open_phase(now: datetime, **changes: Any) -> dict[str, Any]:
    """Registration open from 30 days ago for 30 more days; one wave an hour ago."""
    base = {
        "name": "Phase 3", "kind": "wallet", "amount_satang": AMOUNT,
        "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16",
        "registration_opens_at": iso(now - timedelta(days=30)),
        "registration_closes_at": iso(now + timedelta(days=30)),
        "waves": [{"activate_at": iso(now - timedelta(hours=1))}],
        "expires_after_days": 180, "budget_satang": 10**12,
    }
    base.update(changes)
    return base


class World:
    def __init__(self, clock: Any, definition: dict[str, Any]) -> None:
        self.clock = clock
        self.source = MemoryPhaseSource({PHASE: definition})
        self.queue = FakeQueue(self.source)

    @property
    def rules(self) -> PhaseRules:
        return PhaseRules.from_definition(PHASE, self.source.phases[PHASE])

    def register(self, numbers: list[str], at: datetime | None = None) -> list[str]:
        wallets = []
        for cid in numbers:
            who = Citizen(hash_id(cid), date(2006, 1, 1), "TH", "1001")
            made = register(self.rules, who, now=at or self.clock.now())
            assert made.registration.status == "accepted"
            wallets.append(made.registration.wallet_id)
        return wallets

    def schedule(self) -> dict[str, int]:
        return service.run_schedule(source=self.source, send=self.queue.send)

    def tick(self) -> dict[str, int]:
        """One schedule run and its messages handled."""
        sent = self.schedule()
        self.queue.drain()
        return sent


@pytest.fixture
def world(moto_aws, clock):
    return World(clock, open_phase(clock.now()))


def balance(wallet_id: str) -> int:
    account = Ledger().account(accounts.wallet_account(wallet_id))
    return 0 if account is None else int(account.balance_satang)


def issuance_ids() -> list[str]:
    return sorted(t.transfer_id for t in TransferModel.scan() if t.transfer_id.startswith("iss:"))


def marks() -> list[RegistrationModel]:
    return [r for r in RegistrationModel.scan() if r.due_key]


def assert_balanced() -> None:
    report = audit_ledger()
    assert report.ok, report
    assert drained_summary()["balanced"] is True


def test_a_due_wave_credits_everyone_accepted_while_registration_is_open_and_stays_running(world, clock):
    early = world.register(cids(6), at=clock.now() - timedelta(hours=2))
    fund(100 * AMOUNT)
    sent = world.tick()
    assert sent[f"{PHASE}:credit#001#01"] == 64 and sent[f"{PHASE}:late"] == rolling.SHARDS
    assert all(balance(w) == AMOUNT for w in early)
    # Registration is open: more citizens will come, the wave is not done.
    assert progress(PHASE, 1, 1)["waves"][0]["status"] == "running"
    assert not marks()  # accepted well before the wave's time: its sweep's
    assert_balanced()


def test_a_citizen_accepted_after_the_wave_is_credited_by_the_next_schedule_run_alone(world, clock):
    fund(100 * AMOUNT)
    world.register(cids(3), at=clock.now() - timedelta(hours=2))
    world.tick()
    late_ones = world.register(cids(4, offset=100))
    assert len(marks()) == 4 and all(balance(w) == 0 for w in late_ones)
    world.tick()  # nobody calls activate
    assert all(balance(w) == AMOUNT for w in late_ones)
    # The mark stays until the margin is over, then goes; nothing twice.
    clock.advance(MARGIN)
    world.tick()
    world.tick()
    assert marks() == []
    assert len(issuance_ids()) == 7
    assert totals(PHASE)["credited_count"] == 7 and totals(PHASE)["credited_satang"] == 7 * AMOUNT
    assert_balanced()


def test_activate_credits_late_citizens_at_once(world, clock):
    fund(100 * AMOUNT)
    late_ones = world.register(cids(3))
    body = service.activate(PHASE, source=world.source, send=world.queue.send)
    assert body["late_messages"] == rolling.SHARDS
    world.queue.drain()
    assert all(balance(w) == AMOUNT for w in late_ones)
    assert_balanced()


def test_a_crash_between_acceptance_and_credit_still_credits_once(world, clock, monkeypatch):
    fund(100 * AMOUNT)
    world.tick()
    late_ones = world.register(cids(5, offset=200))
    real_post, real_clear = Ledger.post_batch, late._clear
    calls = {"post": 0, "clear": 0}

    def dies_before_the_first_credit(self, *args, **kwargs):
        calls["post"] += 1
        if calls["post"] == 1:
            raise RuntimeError("process died before crediting")
        return real_post(self, *args, **kwargs)

    def dies_after_the_credit_before_the_mark_goes(mark):
        calls["clear"] += 1
        if calls["clear"] == 1:
            raise RuntimeError("process died after crediting")
        return real_clear(mark)

    monkeypatch.setattr(Ledger, "post_batch", dies_before_the_first_credit)
    monkeypatch.setattr(late, "_clear", dies_after_the_credit_before_the_mark_goes)
    world.schedule()
    assert world.queue.drain() >= 1  # the message failed and was delivered again
    clock.advance(MARGIN)
    for _ in range(3):
        sent = world.tick()
        assert sent[f"{PHASE}:late"]
    assert calls["clear"] >= 2
    assert all(balance(w) == AMOUNT for w in late_ones)
    assert len(issuance_ids()) == 5 and marks() == []
    assert totals(PHASE)["credited_count"] == 5
    assert_balanced()


def test_the_same_late_message_delivered_twice_credits_once(world, clock):
    fund(100 * AMOUNT)
    world.schedule()
    world.queue.drain()
    late_ones = world.register(cids(4, offset=300))
    world.schedule()
    world.queue.bodies = world.queue.bodies + list(world.queue.bodies)
    world.queue.drain()
    assert all(balance(w) == AMOUNT for w in late_ones)
    assert len(issuance_ids()) == 4 and totals(PHASE)["credited_satang"] == 4 * AMOUNT
    assert_balanced()


def test_two_tranches_a_late_citizen_gets_the_first_at_once_and_the_second_at_its_date(moto_aws, clock):
    world = World(clock, open_phase(clock.now(), tranches=[
        {"amount_satang": 600_000, "after_days": 0}, {"amount_satang": 400_000, "after_days": 30}]))
    fund(100 * AMOUNT)
    world.tick()
    late_ones = world.register(cids(3, offset=400))
    world.tick()
    assert all(balance(w) == 600_000 for w in late_ones)
    clock.advance(timedelta(days=29))
    world.tick()
    assert all(balance(w) == 600_000 for w in late_ones)  # not before its date
    assert not [t for t in issuance_ids() if t.startswith(f"iss:{PHASE}:2:")]
    clock.advance(timedelta(days=1, hours=1))
    sent = world.tick()
    assert sent[f"{PHASE}:credit#001#02"] == 64
    assert all(balance(w) == AMOUNT for w in late_ones)
    shown = totals(PHASE)
    assert shown["credited_count"] == 3  # citizens, not credits
    assert shown["tranche_1_credited_count"] == 3 and shown["tranche_2_credited_count"] == 3
    assert_balanced()


def test_late_citizens_past_the_budget_wait_visibly_and_a_raised_budget_credits_them(world, clock):
    fund(3 * AMOUNT + AMOUNT // 2)
    world.tick()
    late_ones = world.register(cids(5, offset=500))
    world.tick()
    credited = [w for w in late_ones if balance(w) == AMOUNT]
    assert len(credited) == 3 and treasury() == AMOUNT // 2
    waiting = [w for w in late_ones if balance(w) == 0]
    assert len(waiting) == 2
    assert {m.wallet_id for m in marks()} >= set(waiting)  # still marked, not lost
    shown = progress(PHASE, 1, 1)
    assert shown["waves"][0]["status"] == "stopped" and shown["stopped_reason"] == "budget_exhausted"
    clock.advance(MARGIN)
    world.tick()
    world.tick()
    assert [w for w in late_ones if balance(w) == 0] == waiting  # nothing moves without money
    # The operator raises the budget (the PUT funds the difference); no activate.
    Ledger().post_batch([accounts.BUDGET_ACCOUNT],
                        [BatchCredit("fund:p3:raise", accounts.treasury_shard(PHASE, 0), 10 * AMOUNT)], "funding")
    world.tick()
    assert all(balance(w) == AMOUNT for w in late_ones)
    assert progress(PHASE, 1, 1)["waves"][0]["status"] == "running"
    world.tick()
    assert marks() == []
    assert len(issuance_ids()) == 5
    assert_balanced()


def test_the_final_sweep_after_close_makes_the_wave_done(world, clock):
    fund(100 * AMOUNT)
    world.register(cids(4, offset=600), at=clock.now() - timedelta(hours=2))
    world.tick()
    # An index entry that lagged: a citizen accepted before the close whom
    # neither the sweep nor a mark reached (the mark removed by hand).
    lagging = world.register(cids(1, offset=700))
    for mark in marks():
        mark.update(actions=[RegistrationModel.due_key.remove()])
    clock.advance(timedelta(days=31))  # past the close and the index's settling
    sent = world.tick()
    assert sent[f"{PHASE}:credit#001#01"] == 64
    assert balance(lagging[0]) == AMOUNT
    run = RunModel.get(PHASE, run_key("credit", 1, 1))
    assert run.status == "done" and run.final
    assert progress(PHASE, 1, 1)["waves"][0]["status"] == "done"
    assert len(issuance_ids()) == 5
    assert_balanced()


def wallet_of(wallet_id: str):
    from chalicelib.registration.models import BenefitModel

    return next(b for b in BenefitModel.scan() if b.wallet_id == wallet_id)


def test_a_waiting_wallet_says_why(world, clock):
    from chalicelib.activation.progress import waiting_reason
    from chalicelib.registration.wallet import wallet_view

    fund(AMOUNT // 2)  # not even one credit
    world.tick()
    waiting = world.register(cids(1, offset=800))[0]
    shown = wallet_view(wallet_of(waiting), world.rules, clock.now(), waiting=waiting_reason)
    assert shown["status"] == "pending" and shown["waiting_reason"] == "crediting"
    world.tick()
    shown = wallet_view(wallet_of(waiting), world.rules, clock.now(), waiting=waiting_reason)
    assert shown["status"] == "pending" and shown["waiting_reason"] == "budget_exhausted"
    assert progress(PHASE, 1, 1)["waves"][0] == {"wave": 1, "status": "stopped", "credited_count": 0,
                                                 "stopped_reason": "budget_exhausted"}
    assert progress(PHASE, 1, 1)["uncredited_count"] == 1


def test_a_whole_phase_on_the_clock_credit_spend_expire_and_the_figures_agree(world, clock):
    from chalicelib.ledger import Transfer
    from chalicelib.phases.counters import spend_feed
    from chalicelib.registration.wallet import wallet_view

    fund(10 * AMOUNT)
    early = world.register(cids(3, offset=900), at=clock.now() - timedelta(hours=2))
    world.tick()
    late_one = world.register(cids(1, offset=950))
    world.tick()
    wallets = early + late_one
    assert all(balance(w) == AMOUNT for w in wallets)
    ledger = Ledger()
    for n, (wallet_id, spent) in enumerate([(wallets[0], 250_000), (wallets[3], 1_000_000)]):
        ledger.post(Transfer(f"pay-{n}", accounts.wallet_account(wallet_id), accounts.merchant_spendable("m1"),
                             spent, "payment", feed=spend_feed(PHASE, f"pay-{n}")))
    clock.advance(timedelta(days=181))  # past the close, the final sweep and every wallet's expiry
    sent = world.tick()
    assert f"{PHASE}:expire#001#00" in sent
    returned = 4 * AMOUNT - 1_250_000
    assert ledger.balance(accounts.returned(PHASE)) == returned
    for _ in range(2):  # the sweep again, and again: nothing returns twice
        clock.advance(timedelta(minutes=20))
        world.tick()
    assert ledger.balance(accounts.returned(PHASE)) == returned
    assert len([t for t in TransferModel.scan() if t.kind == "expiry"]) == 3  # the emptied wallet has none
    for wallet_id in wallets:
        shown = wallet_view(wallet_of(wallet_id), world.rules, clock.now())
        assert shown["status"] == "expired" and shown["balance_satang"] == 0
    shown = progress(PHASE, 1, 1)
    summary = drained_summary()
    assert shown["credited_count"] == 4 and shown["credited_satang"] == 4 * AMOUNT
    assert shown["spent_satang"] == 1_250_000 and shown["expired_satang"] == returned
    assert shown["credited_satang"] - shown["spent_satang"] - shown["expired_satang"] == summary["wallets_satang"] == 0
    assert shown["expired_satang"] == summary["returned_satang"]
    assert shown["spent_satang"] == summary["merchants_spendable_satang"]
    assert shown["credited_satang"] == 10 * AMOUNT - treasury()
    assert shown["waves"][0]["status"] == "done"
    assert_balanced()
