"""Planning of activation and expiry: due waves and tranches, dispatch
decisions, messages. Pure: no I/O."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.activation import plan as p
from chalicelib.activation.progress import COUNTERS, wave_counter, wave_status
from chalicelib.limits import ACTIVATION_BUCKETS

CLOSES = datetime(2025, 3, 31, tzinfo=UTC)
W1 = datetime(2025, 4, 1, 2, tzinfo=UTC)
W2 = datetime(2025, 4, 2, 2, tzinfo=UTC)


def definition(**changes):
    base = {
        "kind": "wallet", "amount_satang": 1_000_000,
        "registration_closes_at": "2025-03-31T00:00:00Z",
        "waves": [{"activate_at": "2025-04-01T02:00:00Z"}, {"activate_at": "2025-04-02T02:00:00Z"}],
        "expires_after_days": 180,
    }
    base.update(changes)
    return base


def plan(**changes) -> p.PhasePlan:
    return p.PhasePlan.from_definition("p3", definition(**changes))


def test_default_is_one_tranche_of_the_amount_at_the_wave_time():
    made = plan()
    assert made.tranches == (p.Tranche(1_000_000, 0),)
    assert p.credit_due_at(made, 1, 1) == W1
    assert p.credit_due_at(made, 2, 1) == W2


def test_tranche_k_is_due_at_the_wave_time_plus_its_days():
    made = plan(tranches=[{"amount_satang": 500_000, "after_days": 0}, {"amount_satang": 500_000, "after_days": 30}])
    assert p.credit_due_at(made, 2, 2) == W2 + timedelta(days=30)
    on_day_30_of_wave_1 = W1 + timedelta(days=30)
    assert p.due_credit_runs(made, on_day_30_of_wave_1) == [
        p.RunRef("credit", 1, 1), p.RunRef("credit", 1, 2), p.RunRef("credit", 2, 1)]


def test_nothing_is_due_before_a_wave_time():
    assert p.due_credit_runs(plan(), W1 - timedelta(seconds=1)) == []
    assert p.due_credit_runs(plan(), W1) == [p.RunRef("credit", 1, 1)]
    assert p.due_credit_runs(plan(), W2) == [p.RunRef("credit", 1, 1), p.RunRef("credit", 2, 1)]


def test_one_wave_can_be_asked_for_alone():
    assert p.due_credit_runs(plan(), W2, wave=2) == [p.RunRef("credit", 2, 1)]
    assert p.due_credit_runs(plan(), W1, wave=2) == []
    assert p.due_credit_runs(plan(), W2, wave=3) == []


def test_waves_are_due_while_registration_is_open_and_the_final_sweep_after_it_settled():
    # PROGRAM.md: a wave's time is the earliest its citizens get money, not
    # a cut-off; the late ones come through their marks, and one final
    # sweep after the close (and the index settled) catches the rest.
    early = plan(registration_closes_at="2025-04-05T00:00:00Z")
    assert p.due_credit_runs(early, W2) == [p.RunRef("credit", 1, 1), p.RunRef("credit", 2, 1)]
    closed = datetime(2025, 4, 5, tzinfo=UTC)
    assert not p.registration_settled(early, W2)
    assert not p.registration_settled(early, closed)
    assert p.registration_settled(early, closed + timedelta(seconds=p.INDEX_SETTLE_S))


def test_cash_transfer_phases_are_paid_by_the_same_runs_and_never_expire():
    cash = plan(kind="cash_transfer", payout_bank_code="004")
    assert not cash.is_wallet
    runs = p.due_credit_runs(cash, W2)
    assert runs == [p.RunRef("credit", 1, 1), p.RunRef("credit", 2, 1)]
    # Each message freezes what a credit is: a payout through the phase's bank.
    [first, *_] = p.work_items(cash, runs[0], set())
    body = first.to_body()
    assert (body["kind"], body["bank_code"]) == ("cash_transfer", "004")
    assert p.WorkItem.from_body(body) == first
    with pytest.raises(ValueError, match="bank_code"):
        p.WorkItem.from_body({**body, "bank_code": None})
    # A wallet's message is as before: no kind, no bank.
    wallet_body = p.work_items(plan(), runs[0], set())[0].to_body()
    assert "kind" not in wallet_body and "bank_code" not in wallet_body
    # Paid out, not spent: nothing to expire.
    assert p.due_expiry_runs(cash, W2 + timedelta(days=400)) == []


def test_expiry_is_due_after_the_last_tranche_plus_the_expiry_days():
    made = plan(tranches=[{"amount_satang": 500_000, "after_days": 0}, {"amount_satang": 500_000, "after_days": 30}],
                expires_after_days=90)
    assert p.expiry_due_at(made, 1) == W1 + timedelta(days=120)
    assert p.due_expiry_runs(made, W1 + timedelta(days=120)) == [p.RunRef("expire", 1)]
    assert p.due_expiry_runs(made, W1 + timedelta(days=119)) == []


def test_expires_at_is_fixed_width_rfc3339_from_the_credit_time():
    assert p.expires_at_for(W1, 180) == "2025-09-28T02:00:00.000000Z"


@pytest.mark.parametrize(
    ("status", "age_s", "forced", "expected"),
    [
        (None, None, False, True),  # a new run
        ("done", 10**6, True, False),  # done is done, even when asked again
        ("running", 5, False, False),  # messages in flight
        ("running", p.DISPATCH_LEASE_S, False, True),  # lease ran out: a crash half-way
        ("running", p.FORCED_RESEND_S, True, True),  # operator asks
        ("running", 5, True, False),  # asks again at once: the messages are barely out
        ("stopped", 10**6, False, False),  # budget exhausted: wait for the operator
        ("stopped", 5, True, True),
    ],
)
def test_dispatch_decision(status, age_s, forced, expected):
    sent = None if age_s is None else W1
    now = W1 + timedelta(seconds=age_s or 0)
    assert p.should_dispatch(status, sent, now, forced) is expected


def test_a_running_runs_final_sweep_and_a_refunded_stopped_run_are_sent_at_once():
    assert p.should_dispatch("running", W1, W1 + timedelta(seconds=5), False, final_due=True)
    assert p.should_dispatch("stopped", W1, W1 + timedelta(seconds=5), False, final_due=True)
    assert not p.should_dispatch("done", W1, W1 + timedelta(seconds=5), False, final_due=True)


def test_late_messages_are_one_per_shard_of_the_marks_and_round_trip():
    from chalicelib import rolling

    items = p.late_items(plan())
    assert [i.bucket for i in items] == list(range(rolling.SHARDS))
    assert all(p.WorkItem.from_body(i.to_body()) == i for i in items)
    with pytest.raises(ValueError, match="shard"):
        p.WorkItem.from_body({"op": "late", "phase_id": "p3", "wave": 1, "tranche": 0, "bucket": rolling.SHARDS})


def test_work_items_are_one_per_bucket_not_yet_done_and_carry_the_amounts():
    made = plan(tranches=[{"amount_satang": 600_000, "after_days": 0}, {"amount_satang": 400_000, "after_days": 30}])
    items = p.work_items(made, p.RunRef("credit", 2, 2), buckets_done={0, 5})
    assert len(items) == ACTIVATION_BUCKETS - 2
    assert {i.bucket for i in items} == set(range(ACTIVATION_BUCKETS)) - {0, 5}
    assert all(i.amount_satang == 400_000 and i.expires_after_days == 180 and i.wave == 2 and i.tranche == 2
               for i in items)


def test_a_message_round_trips_and_bad_ones_are_refused():
    item = p.WorkItem("credit", "p3", 1, 1, 7, 1_000_000, 180, cursor='{"k": 1}')
    assert p.WorkItem.from_body(item.to_body()) == item
    import json
    assert p.WorkItem.from_body(json.dumps(item.to_body())) == item
    with pytest.raises(ValueError):
        p.WorkItem.from_body({**item.to_body(), "bucket": ACTIVATION_BUCKETS})
    with pytest.raises(ValueError):
        p.WorkItem.from_body({**item.to_body(), "amount_satang": 0})
    with pytest.raises(ValueError):
        p.WorkItem.from_body({**item.to_body(), "surprise": 1})
    with pytest.raises(ValueError):
        p.WorkItem.from_body({**item.to_body(), "op": "delete"})


def test_transfer_ids_name_phase_tranche_and_wallet():
    assert p.issuance_transfer_id("p3", 2, "w9") == "iss:p3:2:w9"
    assert p.expiry_transfer_id("w9") == "exp:w9"


class _Run:
    def __init__(self, status):
        self.status = status


def test_wave_status_from_its_runs():
    assert wave_status([], 1) == "scheduled"
    assert wave_status([_Run("running")], 1) == "running"
    assert wave_status([_Run("done")], 1) == "done"
    assert wave_status([_Run("done")], 2) == "running"  # tranche 2 still to come
    assert wave_status([_Run("done"), _Run("stopped")], 2) == "stopped"


def test_counter_names():
    assert wave_counter(3) == "wave_3_credited_count"
    assert "spent_satang" in COUNTERS and "expired_satang" in COUNTERS


def test_the_sqs_handler_reports_exactly_the_failed_records():
    from chalicelib.activation.service import handle_sqs_event

    def record(message_id, body, receives="1"):
        return {"messageId": message_id, "receiptHandle": "rh", "body": body, "md5OfBody": "",
                "attributes": {"ApproximateReceiveCount": receives}, "messageAttributes": {},
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:ap-southeast-1:1:q",
                "awsRegion": "ap-southeast-1"}

    good = p.WorkItem("credit", "p3", 1, 1, 1, 1_000_000, 180).to_body()
    boom = {**good, "bucket": 2}
    seen = []

    def handle(item):
        seen.append(item)
        if item.bucket == 2:
            raise RuntimeError("DynamoDB unavailable")

    import json
    event = {"Records": [record("a", json.dumps(good)), record("b", "not json"),
                         record("c", json.dumps(boom)), record("d", json.dumps(good), receives="2")]}
    assert handle_sqs_event(event, handle=handle) == {
        "batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "c"}]}
    assert [i.recheck for i in seen] == [False, False, True]  # a redelivery re-checks what exists
    everything_fails = {"Records": [record("x", "{}")]}
    assert handle_sqs_event(everything_fails, handle=handle) == {"batchItemFailures": [{"itemIdentifier": "x"}]}


@pytest.mark.parametrize("body, wave", [({}, None), ({"wave": None}, None), ({"wave": 2}, 2)])
def test_the_activate_body_names_an_optional_wave(body, wave):
    from chalicelib.activation.requests import ACTIVATE_BODY

    assert ACTIVATE_BODY.parse(body, "").get("wave") == wave


@pytest.mark.parametrize("body, field", [
    ([], "body"), ({"wave": "1"}, "wave"), ({"wave": 0}, "wave"), ({"wave": True}, "wave"),
    ({"wave": 1.0}, "wave"), ({"waves": 1}, "waves"),
])
def test_a_bad_activate_body_is_a_400_naming_the_field(body, field):
    from chalicelib.activation.requests import ACTIVATE_BODY
    from chalicelib.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError) as caught:
        ACTIVATE_BODY.parse(body, "")
    assert caught.value.status == 400 and caught.value.details["field"] == field
