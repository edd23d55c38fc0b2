"""Activation and expiry against moto in-process, single-threaded: every
rule and every failure of the activation list (job twice, crash half-way,
message delivered twice, partial batch failure, budget exhausted).
Concurrent runs are tested on DynamoDB Local (tests/concurrency)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.activation import crediting, service
from chalicelib.activation.models import RunModel, run_key
from chalicelib.activation.progress import progress, totals, with_progress
from chalicelib.activation.source import MemoryPhaseSource
from chalicelib.clock import iso, parse_iso, utcnow
from chalicelib.config import get_settings
from chalicelib.eligibility import assign_bucket, assign_wave, wallet_id_for
from chalicelib.ledger import BatchCredit, Ledger, Transfer, accounts, audit_ledger
from chalicelib.limits import ACTIVATION_BUCKETS
from chalicelib.registration.models import RegistrationModel, registration_key, wave_bucket_key
from tests.invariants import drained_summary

PHASE = "p3"
AMOUNT = 1_000_000
BATCH_SIZE = 10  # SQS delivers at most 10 records per Lambda call


def definition(start: datetime, waves: int = 2, **changes: Any) -> dict[str, Any]:
    """A phase whose registration closed an hour before ``start`` and
    whose waves activate a day apart from ``start``."""
    base = {
        "name": "Phase 3", "kind": "wallet", "amount_satang": AMOUNT,
        "registration_opens_at": iso(start - timedelta(days=30)),
        "registration_closes_at": iso(start - timedelta(hours=1)),
        "waves": [{"activate_at": iso(start + timedelta(days=i))} for i in range(waves)],
        "expires_after_days": 180, "budget_satang": 10**12,
    }
    base.update(changes)
    return base


def seed(count: int, waves: int, phase_id: str = PHASE, rejected: int = 0) -> dict[str, int]:
    """Accepted registrations as registration writes them; returns wallet -> wave."""
    wallets = {}
    for i in range(count + rejected):
        citizen = f"citizen-{phase_id}-{i:06d}"
        item = RegistrationModel(registration_key(phase_id, citizen), registration_id=f"r-{i}", phase_id=phase_id,
                                 citizen_hash=citizen, created_at=iso(utcnow()))
        if i < count:
            wave = assign_wave(phase_id, citizen, waves)
            bucket = assign_bucket(phase_id, citizen, ACTIVATION_BUCKETS)
            item.status, item.wave = "accepted", wave
            item.wave_key = wave_bucket_key(phase_id, wave, bucket)
            item.wallet_id = wallet_id_for(phase_id, citizen)
            wallets[item.wallet_id] = wave
        else:
            item.status, item.reason = "rejected", "outside_cohort"
        item.save()
    return wallets


def fund(total_satang: int, phase_id: str = PHASE) -> None:
    shards = get_settings().treasury_shards
    per, rest = divmod(total_satang, shards)
    credits = [BatchCredit(f"fund:{phase_id}:{i}", accounts.treasury_shard(phase_id, i), per + (rest if i == 0 else 0))
               for i in range(shards)]
    Ledger().post_batch([accounts.BUDGET_ACCOUNT], [c for c in credits if c.amount_satang > 0], "funding")


def treasury(phase_id: str = PHASE) -> int:
    ledger = Ledger()
    return sum(ledger.balance(accounts.treasury_shard(phase_id, i)) for i in range(get_settings().treasury_shards))


class FakeQueue:
    """The activation queue and what Lambda does around it: batches of 10
    records to the handler; failed records are delivered again."""

    def __init__(self, source: MemoryPhaseSource) -> None:
        self.source = source
        self.bodies: list[dict[str, Any]] = []
        self.sent = 0
        self.serial = 0
        self.redelivered: set[int] = set()  # id() of bodies delivered before

    def send(self, body: dict[str, Any]) -> None:
        self.bodies.append(body)
        self.sent += 1

    def event(self, bodies: list[dict[str, Any]]) -> dict[str, Any]:
        records = []
        for body in bodies:
            self.serial += 1
            records.append({
                "messageId": f"m-{self.serial}", "receiptHandle": f"rh-{self.serial}",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "2" if id(body) in self.redelivered else "1"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:ap-southeast-1:123456789012:wallet-local-activation",
                "awsRegion": "ap-southeast-1",
            })
        return {"Records": records}

    def handle(self, item):
        return service.handle_work_item(item, source=self.source, send=self.send)

    def deliver(self, bodies: list[dict[str, Any]]) -> dict[str, Any]:
        return service.handle_sqs_event(self.event(bodies), handle=self.handle)

    def drain(self, rounds_max: int = 50) -> int:
        """Deliver until empty, redelivering failures; returns failures seen."""
        failures = 0
        for _ in range(rounds_max):
            if not self.bodies:
                return failures
            batch, self.bodies = self.bodies[:BATCH_SIZE], self.bodies[BATCH_SIZE:]
            response = self.deliver(batch)
            failed_ids = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            failures += len(failed_ids)
            first = self.serial - len(batch) + 1
            again = [b for i, b in enumerate(batch) if f"m-{first + i}" in failed_ids]
            self.redelivered.update(id(b) for b in again)
            self.bodies.extend(again)
        raise AssertionError("queue did not drain")


@pytest.fixture
def start():
    return utcnow() - timedelta(minutes=5)


@pytest.fixture
def source(moto_aws, start):
    return MemoryPhaseSource({PHASE: definition(start)})


@pytest.fixture
def queue(source):
    return FakeQueue(source)


def assert_balanced() -> None:
    report = audit_ledger()
    assert report.ok, report
    assert drained_summary()["balanced"] is True


def wallet(wallet_id: str):
    return Ledger().account(accounts.wallet_account(wallet_id))


def test_a_due_wave_credits_each_accepted_citizen_once_and_activates_the_wallet(source, queue, start):
    wallets = seed(30, waves=2, rejected=3)
    fund(100 * AMOUNT)
    sent = service.run_schedule(now=start, source=source, send=queue.send)
    assert sent == {f"{PHASE}:credit#001#01": ACTIVATION_BUCKETS}
    assert queue.drain() == 0
    ledger = Ledger()
    for wallet_id, wave in wallets.items():
        account = wallet(wallet_id)
        if wave == 1:
            assert account.balance_satang == AMOUNT and account.status == "active"
            expires = parse_iso(account.expires_at)
            assert timedelta(days=179, hours=23) < expires - utcnow() <= timedelta(days=180)
            assert ledger.get_transfer(f"iss:{PHASE}:1:{wallet_id}").amount_satang == AMOUNT
        else:
            assert account is None  # wave 2 is not due: still pending
    first_wave = sum(1 for w in wallets.values() if w == 1)
    assert treasury() == 100 * AMOUNT - first_wave * AMOUNT
    shown = progress(PHASE, wave_count=2, tranche_count=1)
    assert shown["credited_count"] == first_wave and shown["credited_satang"] == first_wave * AMOUNT
    assert shown["waves"] == [{"wave": 1, "status": "done", "credited_count": first_wave},
                              {"wave": 2, "status": "scheduled", "credited_count": 0}]
    assert source.started  # the money-shaping fields are frozen from now on
    assert_balanced()


def test_the_job_run_twice_sends_each_run_once_and_credits_once(source, queue, start):
    wallets = seed(20, waves=2)
    fund(100 * AMOUNT)
    later = start + timedelta(days=1)
    assert len(service.run_schedule(now=later, source=source, send=queue.send)) == 2
    assert service.run_schedule(now=later, source=source, send=queue.send) == {}
    queue.drain()
    assert service.run_schedule(now=later + timedelta(hours=1), source=source, send=queue.send) == {}
    assert totals(PHASE)["credited_count"] == len(wallets)
    assert treasury() == 100 * AMOUNT - len(wallets) * AMOUNT
    assert_balanced()


def test_activate_again_and_again_credits_no_one_twice(source, queue, start):
    wallets = seed(20, waves=2)
    fund(100 * AMOUNT)
    later = start + timedelta(days=1)
    for _ in range(3):
        body = service.activate(PHASE, now=later, source=source, send=queue.send)
        assert [r["wave"] for r in body["runs"]] == [1, 2]
    queue.drain()
    body = service.activate(PHASE, now=later, source=source, send=queue.send)
    assert [r["messages"] for r in body["runs"]] == [0, 0]  # done runs send nothing
    assert totals(PHASE)["credited_count"] == len(wallets)
    assert all(wallet(w).balance_satang == AMOUNT for w in wallets)
    assert treasury() == 100 * AMOUNT - len(wallets) * AMOUNT
    assert_balanced()


def test_one_wave_can_be_activated_alone(source, queue, start):
    wallets = seed(20, waves=2)
    fund(100 * AMOUNT)
    service.activate(PHASE, wave=2, now=start + timedelta(days=1), source=source, send=queue.send)
    queue.drain()
    assert all((wallet(w) is not None) == (wave == 2) for w, wave in wallets.items())


def test_a_message_delivered_twice_credits_once(source, queue, start):
    wallets = seed(25, waves=1)
    fund(100 * AMOUNT)
    source.phases[PHASE] = definition(start, waves=1)
    service.run_schedule(now=start, source=source, send=queue.send)
    queue.bodies = queue.bodies + list(queue.bodies)  # every message twice
    queue.drain()
    assert totals(PHASE)["credited_count"] == len(wallets)
    assert totals(PHASE)["credited_satang"] == len(wallets) * AMOUNT
    assert all(wallet(w).balance_satang == AMOUNT for w in wallets)
    assert_balanced()


def test_a_crash_half_way_leaves_the_bucket_open_and_the_redelivery_completes_it(source, queue, start, monkeypatch):
    wallets = seed(40, waves=1)
    fund(100 * AMOUNT)
    source.phases[PHASE] = definition(start, waves=1)
    monkeypatch.setattr(crediting, "PAGE_SIZE", 2)  # several pages per bucket
    real = Ledger.post_batch
    calls = {"n": 0}

    def dies_on_every_third(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RuntimeError("process died")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "post_batch", dies_on_every_third)
    service.run_schedule(now=start, source=source, send=queue.send)
    failures = queue.drain()
    assert failures > 0
    run = RunModel.get(PHASE, run_key("credit", 1, 1))
    assert run.status == "done"
    assert totals(PHASE)["credited_count"] == len(wallets)
    assert all(wallet(w).balance_satang == AMOUNT for w in wallets)
    assert treasury() == 100 * AMOUNT - len(wallets) * AMOUNT
    assert_balanced()


def test_a_planner_dying_after_the_claim_is_resent_after_the_lease(source, queue, start):
    wallets = seed(20, waves=1)
    fund(100 * AMOUNT)
    source.phases[PHASE] = definition(start, waves=1)

    def dies(body):
        raise RuntimeError("died while sending")

    with pytest.raises(RuntimeError):
        service.run_schedule(now=start, source=source, send=dies)
    assert service.run_schedule(now=start + timedelta(minutes=1), source=source, send=queue.send) == {}
    after_lease = start + timedelta(seconds=service.planning.DISPATCH_LEASE_S)
    assert service.run_schedule(now=after_lease, source=source, send=queue.send)
    queue.drain()
    assert totals(PHASE)["credited_count"] == len(wallets)
    assert_balanced()


def test_a_partial_batch_failure_reports_only_the_failed_records(source, queue, start, monkeypatch):
    seed(10, waves=1)
    fund(100 * AMOUNT)
    source.phases[PHASE] = definition(start, waves=1)
    service.run_schedule(now=start, source=source, send=queue.send)
    good = [b for b in queue.bodies if b["bucket"] not in (3, 4)][:3]
    failing = next(b for b in queue.bodies if b["bucket"] == 3)
    bodies = [good[0], {"op": "credit", "phase_id": PHASE}, good[1], failing, good[2]]
    real = crediting.credit_bucket

    def fails_for_bucket_3(item, *args, **kwargs):
        if item.bucket == 3:
            raise RuntimeError("DynamoDB unavailable")
        return real(item, *args, **kwargs)

    monkeypatch.setattr(service, "credit_bucket", fails_for_bucket_3)
    response = queue.deliver(bodies)
    first = queue.serial - len(bodies) + 1
    assert response == {"batchItemFailures": [{"itemIdentifier": f"m-{first + 1}"},
                                              {"itemIdentifier": f"m-{first + 3}"}]}
    # Registration closed before the run: its sweep is the final one.
    done = RunModel.get(PHASE, run_key("credit", 1, 1)).final_buckets_done
    assert {good[0]["bucket"], good[1]["bucket"], good[2]["bucket"]} <= done and 3 not in done


def test_budget_exhausted_stops_the_wave_and_never_overdraws(source, queue, start):
    wallets = seed(30, waves=1)
    funded = 12 * AMOUNT + AMOUNT // 2
    fund(funded)
    source.phases[PHASE] = definition(start, waves=1)
    service.run_schedule(now=start, source=source, send=queue.send)
    queue.drain()
    credited = [w for w in wallets if wallet(w) is not None and wallet(w).balance_satang > 0]
    assert len(credited) == totals(PHASE)["credited_count"] <= 12
    assert all(wallet(w).balance_satang == AMOUNT for w in credited)
    assert treasury() == funded - len(credited) * AMOUNT >= 0
    shown = progress(PHASE, wave_count=1, tranche_count=1)
    assert shown["waves"][0]["status"] == "stopped"
    assert shown["stopped_reason"] == "budget_exhausted"
    assert source.stopped == {PHASE: "budget_exhausted"}
    # The planner leaves a stopped wave alone; the operator raises the
    # budget and activates again.
    assert service.run_schedule(now=start + timedelta(hours=1), source=source, send=queue.send) == {}
    fund(100 * AMOUNT, phase_id=PHASE) if False else Ledger().post_batch(
        [accounts.BUDGET_ACCOUNT], [BatchCredit("fund:p3:more", accounts.treasury_shard(PHASE, 0), 50 * AMOUNT)],
        "funding")
    service.activate(PHASE, now=start + timedelta(hours=1), source=source, send=queue.send)
    queue.drain()
    assert totals(PHASE)["credited_count"] == len(wallets)
    assert progress(PHASE, 1, 1)["waves"][0]["status"] == "done"
    assert_balanced()


def test_tranches_are_credited_each_at_its_date_with_their_own_transfer(source, queue, start):
    source.phases[PHASE] = definition(start, waves=1, tranches=[
        {"amount_satang": 600_000, "after_days": 0}, {"amount_satang": 400_000, "after_days": 30}])
    wallets = seed(12, waves=1)
    fund(100 * AMOUNT)
    service.run_schedule(now=start, source=source, send=queue.send)
    queue.drain()
    assert all(wallet(w).balance_satang == 600_000 for w in wallets)
    assert progress(PHASE, 1, 2)["waves"][0]["status"] == "running"  # tranche 2 still to come
    day_30 = start + timedelta(days=30)
    assert service.run_schedule(now=day_30, source=source, send=queue.send) == {
        f"{PHASE}:credit#001#02": ACTIVATION_BUCKETS}
    queue.drain()
    ledger = Ledger()
    for w in wallets:
        assert wallet(w).balance_satang == AMOUNT
        assert ledger.get_transfer(f"iss:{PHASE}:2:{w}").amount_satang == 400_000
    assert totals(PHASE)["credited_satang"] == len(wallets) * AMOUNT
    assert progress(PHASE, 1, 2)["waves"][0]["status"] == "done"
    assert_balanced()


def test_expiry_returns_each_remaining_balance_once_and_the_wallet_expires(source, queue, start, monkeypatch):
    source.phases[PHASE] = definition(start, waves=1)
    wallets = list(seed(10, waves=1))
    fund(100 * AMOUNT)
    service.run_schedule(now=start, source=source, send=queue.send)
    queue.drain()
    ledger = Ledger()
    spender = wallets[0]
    ledger.post(Transfer("pay-1", accounts.wallet_account(spender), accounts.merchant_spendable("m1"),
                         250_000, "payment"))
    later = utcnow() + timedelta(days=181)
    monkeypatch.setattr(crediting, "_now", lambda: later)
    sent = service.run_schedule(now=later, source=source, send=queue.send)
    assert sent == {f"{PHASE}:expire#001#00": ACTIVATION_BUCKETS}
    queue.bodies = queue.bodies + list(queue.bodies)  # delivered twice
    queue.drain()
    for w in wallets:
        account = wallet(w)
        assert account.balance_satang == 0 and account.status == "expired"
    returned = len(wallets) * AMOUNT - 250_000
    assert ledger.balance(accounts.returned(PHASE)) == returned
    assert ledger.get_transfer(f"exp:{spender}").amount_satang == 750_000
    assert totals(PHASE)["expired_satang"] == returned
    assert RunModel.get(PHASE, run_key("expire", 1)).status == "done"
    assert service.run_schedule(now=later + timedelta(days=1), source=source, send=queue.send) == {}
    assert_balanced()


def test_expiry_leaves_wallets_not_yet_expired_for_a_later_sweep(source, queue, start, monkeypatch):
    source.phases[PHASE] = definition(start, waves=1)
    wallets = list(seed(6, waves=1))
    fund(100 * AMOUNT)
    service.run_schedule(now=start, source=source, send=queue.send)
    queue.drain()
    # The sweep comes before the wallets' own expires_at (credited late).
    too_early = utcnow() + timedelta(days=179)
    monkeypatch.setattr(crediting, "_now", lambda: too_early)
    service.run_schedule(now=start + timedelta(days=181), source=source, send=queue.send)
    queue.drain()
    assert all(wallet(w).status == "active" and wallet(w).balance_satang == AMOUNT for w in wallets)
    assert RunModel.get(PHASE, run_key("expire", 1)).status == "running"
    on_time = utcnow() + timedelta(days=181)
    monkeypatch.setattr(crediting, "_now", lambda: on_time)
    lease = timedelta(seconds=service.planning.DISPATCH_LEASE_S)
    assert service.run_schedule(now=start + timedelta(days=181) + lease, source=source, send=queue.send)
    queue.drain()
    assert all(wallet(w).status == "expired" for w in wallets)
    assert totals(PHASE)["expired_satang"] == len(wallets) * AMOUNT
    assert_balanced()


def test_ledger_post_debit_sets_sets_the_debited_account_in_the_same_write(moto_aws):
    fund(10 * AMOUNT)
    ledger = Ledger()
    ledger.post_batch([accounts.treasury_shard(PHASE, 0)],
                      [BatchCredit("iss:x", accounts.wallet_account("wx"), 1000, credit_sets={"status": "active"})],
                      "issuance")
    posted = ledger.post(Transfer("exp:wx", accounts.wallet_account("wx"), accounts.returned(PHASE), 1000, "expiry"),
                         debit_sets={"status": "expired"})
    assert posted.created
    assert wallet("wx").status == "expired" and wallet("wx").balance_satang == 0
    with pytest.raises(ValueError):
        ledger.post(Transfer("t2", accounts.treasury_shard(PHASE, 0), accounts.wallet_account("wy"), 1, "x"),
                    debit_sets={"balance_satang": "5"})


def test_with_the_phases_store_a_started_wave_freezes_the_amount_and_a_stop_is_recorded(moto_aws, start):
    from chalicelib.errors import ConflictError
    from chalicelib.phases import service as phases

    body = definition(start, waves=1, budget_satang=5 * AMOUNT,
                      birth_date_from="2004-09-16", birth_date_to="2008-09-16", exclusion_lists=[],
                      tranches=[{"amount_satang": AMOUNT, "after_days": 0}], spending_scope="district",
                      allowed_size_classes=["small"], restricted_categories=["lottery"], payout_bank_code=None)
    phases.save_phase(PHASE, body, utcnow())
    wallets = seed(8, waves=1)
    queue = FakeQueue(None)  # type: ignore[arg-type]
    queue.source = service.default_source()
    service.run_schedule(now=start, send=queue.send)
    queue.drain()
    assert totals(PHASE)["credited_count"] == 5  # the budget covers five
    shown = with_progress(PHASE, phases.get_phase(PHASE))  # what GET /v1/admin/phases/{id} answers
    assert shown["waves"][0]["status"] == "stopped" and shown["stopped_reason"] == "budget_exhausted"
    assert shown["credited_count"] == 5 and shown["accepted"] == 0  # registration counts its own
    with pytest.raises(ConflictError) as caught:
        phases.save_phase(PHASE, {**body, "amount_satang": 2 * AMOUNT,
                                  "tranches": [{"amount_satang": 2 * AMOUNT, "after_days": 0}]}, utcnow())
    assert caught.value.status == 409
    assert len([w for w in wallets if wallet(w) is not None]) == 5
    assert_balanced()
