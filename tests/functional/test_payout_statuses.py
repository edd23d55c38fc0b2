"""The open loop on moto: the dispatcher's bulk pacs.008 per bank, the
status handler's pacs.002 (settle, reject, duplicates, contradictions,
unknown ids, bad statuses, unparseable messages), timeouts flagged for
inquiry and never reversed, a paused or failing bank delaying only itself.
Every scenario ends with the ledger audit."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib import queues
from chalicelib.alerts.models import AlertModel
from chalicelib.ledger import Ledger, Transfer, accounts, audit_ledger
from chalicelib.payouts import dispatch, statuses, steps
from chalicelib.payouts.rules import Creditor
from chalicelib.switches import set_switch
from tests.invariants import drained_summary

NOW = datetime(2025, 3, 18, 2, 0, tzinfo=UTC)


@pytest.fixture
def loop(moto_aws: Any) -> Any:
    return moto_aws


def payout(bank: str = "004", amount: int = 10_000, account_no: str = "1234567890", shop: str = "m1") -> str:
    ledger = Ledger()
    payout_id = f"wd_{uuid.uuid4().hex[:16]}"
    ledger.post(Transfer(f"fund-{payout_id}", accounts.BUDGET_ACCOUNT, accounts.merchant_withdrawable(shop), amount,
                         "test_funding"))
    steps.hold(ledger, steps.NewPayout(payout_id, "withdrawal", bank, amount, accounts.merchant_withdrawable(shop),
                                       f"merchant:{shop}", Creditor("Som Tam Shop", "account_no", account_no), 24), NOW)
    return payout_id


def received(bank: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="ap-southeast-1")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=queues.queue_url(queues.bank_queue(bank)), MaxNumberOfMessages=10)
        if not got.get("Messages"):
            return out
        for m in got["Messages"]:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queues.queue_url(queues.bank_queue(bank)), ReceiptHandle=m["ReceiptHandle"])


def status_message(bank: str, *statuses_: tuple[str, str, str | None]) -> str:
    return json.dumps({"message_type": "pacs.002", "msg_id": uuid.uuid4().hex, "bank_code": bank, "statuses": [
        {"original_end_to_end_id": e2e, "status": st, "reason_code": reason, "settled_at": "2025-03-18T09:00:00Z"}
        for e2e, st, reason in statuses_]})


def alerts_of(kind: str) -> list[AlertModel]:
    return [a for a in AlertModel.scan() if a.kind == kind]


def status_of(payout_id: str) -> str:
    return steps.get_payout(payout_id).status


def audited() -> dict[str, int]:
    report = audit_ledger()
    assert report.ok, report
    summary = drained_summary()
    assert summary["balanced"]
    return summary


def test_the_dispatcher_sends_a_bulk_pacs008_to_the_bank_s_own_queue(loop):
    first, second = payout("004", 10_000), payout("004", 20_000, account_no="5555555000")
    other = payout("002", 5_000)
    report = dispatch.run_schedule(NOW)
    assert report["sent"] == {"002": 1, "004": 2} and report["failed"] == []
    [message] = received("004")
    assert message["message_type"] == "pacs.008" and message["bank_code"] == "004"
    assert {t["end_to_end_id"]: (t["amount_satang"], t["creditor"]["account_no"], t["purpose"], t["currency"])
            for t in message["transactions"]} == {
        first: (10_000, "1234567890", "merchant_cash_out", "THB"),
        second: (20_000, "5555555000", "merchant_cash_out", "THB")}
    assert [t["end_to_end_id"] for t in received("002")[0]["transactions"]] == [other]
    assert {status_of(first), status_of(second), status_of(other)} == {"sent"}
    assert steps.get_payout(first).msg_id == message["msg_id"]
    # Nothing pending: the next run sends nothing again.
    assert dispatch.run_schedule(NOW)["sent"] == {}
    assert audited()["in_flight_satang"] == 35_000


def test_up_to_the_message_limit_per_message(loop):
    ids = [payout("006", 1_000) for _ in range(7)]
    assert dispatch.dispatch_bank("006", NOW, per_message=3) == 7
    sizes = [len(m["transactions"]) for m in received("006")]
    assert sorted(sizes) == [1, 3, 3]
    assert {status_of(i) for i in ids} == {"sent"}


def test_acsc_settles_rjct_returns_the_money_and_repeats_are_harmless(loop):
    paid, back = payout("004", 10_000), payout("004", 20_000, shop="m2")
    dispatch.dispatch_bank("004", NOW)
    body = status_message("004", (paid, "ACSC", None), (back, "RJCT", "AC04"))
    assert statuses.handle_message(body) == {"settled": 1, "rejected": 1}
    # The same message again (at-least-once), and the same statuses split up: nothing moves.
    assert statuses.handle_message(body) == {"duplicate": 2}
    assert statuses.handle_message(status_message("004", (paid, "ACSC", None))) == {"duplicate": 1}
    summary = audited()
    assert summary["paid_out_satang"] == 10_000 and summary["in_flight_satang"] == 0
    assert Ledger().balance(accounts.merchant_withdrawable("m2")) == 20_000
    assert steps.get_payout(back).reason == "AC04" and steps.get_payout(paid).business_date == "2025-03-18"
    assert list(AlertModel.scan()) == []


def test_a_contradicting_status_is_an_alert_and_moves_nothing(loop):
    paid = payout("004", 10_000)
    statuses.handle_message(status_message("004", (paid, "ACSC", None)))
    before = audited()
    assert statuses.handle_message(status_message("004", (paid, "RJCT", "AC01"))) == {"contradiction": 1}
    assert statuses.handle_message(status_message("004", (paid, "RJCT", "AC01"))) == {"contradiction": 1}
    assert audited() == before and status_of(paid) == "settled"
    [alert] = alerts_of("contradicting_status")
    assert alert.details.as_dict()["payout_id"] == paid and alert.details.as_dict()["status_here"] == "settled"


def test_an_unknown_payout_is_an_alert(loop):
    known = payout("004", 10_000)
    outcome = statuses.handle_message(status_message("004", ("wd_0000000000000bad", "ACSC", None),
                                                     (known, "ACSC", None)))
    assert outcome == {"unknown": 1, "settled": 1}
    # A payout of another bank, named by this one, is unknown to this bank too.
    assert statuses.handle_message(status_message("002", (known, "RJCT", "AC01"))) == {"unknown": 1}
    assert sorted(a.details.as_dict()["end_to_end_id"] for a in alerts_of("unknown_payout")) == sorted(
        ["wd_0000000000000bad", known])
    assert status_of(known) == "settled" and audited()["paid_out_satang"] == 10_000


def test_one_bad_status_does_not_stop_the_others(loop):
    a, b = payout("004", 1_000), payout("004", 2_000)
    body = json.loads(status_message("004", (a, "ACSC", None), (b, "RJCT", "AM05")))
    body["statuses"].insert(1, {"original_end_to_end_id": "wd_x", "status": "PAID"})
    assert statuses.handle_message(json.dumps(body)) == {"invalid": 1, "settled": 1, "rejected": 1}
    [alert] = alerts_of("unparseable_message")
    assert alert.details.as_dict()["index"] == 1
    assert status_of(a) == "settled" and status_of(b) == "rejected"
    audited()


@pytest.mark.parametrize("body", ["{not json", json.dumps({"message_type": "pacs.002", "msg_id": "m1"}),
                                  json.dumps({"message_type": "camt.053"}), json.dumps([1, 2])])
def test_an_unparseable_message_goes_to_the_dead_letter_queue_and_raises_an_alert(loop, body):
    event = {"Records": [{"messageId": "1", "receiptHandle": "r", "body": body, "attributes": {},
                          "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                          "eventSourceARN": "arn:aws:sqs:ap-southeast-1:123456789012:q",
                          "awsRegion": "ap-southeast-1"}]}
    assert statuses.handle_sqs_event(event) == {"batchItemFailures": []}
    sqs = boto3.client("sqs", region_name="ap-southeast-1")
    dlq = queues.queue_url(queues.dlq_short_name(queues.STATUS_QUEUE))
    [dead] = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert dead["Body"] == body
    assert len(alerts_of("unparseable_message")) == 1


def test_a_fault_fails_only_its_message_after_the_rest_is_done(loop, monkeypatch):
    a, b = payout("004", 1_000), payout("004", 2_000)
    real = steps.reject

    def flaky(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("throttled")

    monkeypatch.setattr(steps, "reject", flaky)
    with pytest.raises(RuntimeError):
        statuses.handle_message(status_message("004", (a, "ACSC", None), (b, "RJCT", "AC01")))
    assert status_of(a) == "settled" and status_of(b) == "pending"
    monkeypatch.setattr(steps, "reject", real)
    assert statuses.handle_message(status_message("004", (a, "ACSC", None), (b, "RJCT", "AC01"))) == {
        "duplicate": 1, "rejected": 1}
    audited()


def test_late_and_out_of_order_statuses(loop):
    early = payout("004", 1_000)
    # The bank answers before the dispatcher marked the payout sent.
    statuses.handle_message(status_message("004", (early, "RJCT", "AC06")))
    item = steps.get_payout(early)
    assert item.status == "rejected" and not steps.mark_sent(item, "msg_late", NOW)
    assert status_of(early) == "rejected" and audited()["in_flight_satang"] == 0


def test_no_answer_in_time_is_flagged_for_inquiry_never_reversed(loop):
    waiting, answered = payout("004", 10_000), payout("004", 5_000)
    dispatch.dispatch_bank("004", NOW)
    statuses.handle_message(status_message("004", (answered, "ACSC", None)))
    assert dispatch.flag_timeouts("004", NOW + timedelta(hours=23)) == 0
    assert dispatch.run_schedule(NOW + timedelta(hours=25))["flagged"] == {"004": 1}
    assert dispatch.run_schedule(NOW + timedelta(hours=26))["flagged"] == {}
    item = steps.get_payout(waiting)
    assert item.inquiry and item.status == "sent"
    assert audited()["in_flight_satang"] == 10_000  # never reversed without the bank's word
    [alert] = alerts_of("payout_timeout")
    assert alert.details.as_dict()["payout_id"] == waiting
    # The bank's word, late, still settles it.
    assert statuses.handle_message(status_message("004", (waiting, "ACSC", None))) == {"settled": 1}
    assert audited()["paid_out_satang"] == 15_000


def test_a_paused_bank_waits_in_the_ledger_and_goes_when_resumed(loop):
    held, other = payout("004", 10_000), payout("002", 3_000)
    set_switch("withdrawals", "paused", "bank:004", "bank outage")
    assert dispatch.run_schedule(NOW)["sent"] == {"002": 1}
    assert status_of(held) == "pending" and status_of(other) == "sent" and received("004") == []
    assert audited()["in_flight_satang"] == 13_000
    set_switch("withdrawals", "on", "bank:004", "back")
    assert dispatch.run_schedule(NOW)["sent"] == {"004": 1}
    assert status_of(held) == "sent"


def test_a_failing_bank_queue_delays_only_that_bank(loop, monkeypatch):
    broken, fine = payout("011", 1_000), payout("014", 1_000)
    real = queues.send_json

    def send(short: str, body: Any, delay_s: int = 0) -> str:
        if short == queues.bank_queue("011"):
            raise RuntimeError("queue down")
        return real(short, body, delay_s)

    monkeypatch.setattr(queues, "send_json", send)
    report = dispatch.run_schedule(NOW)
    assert report["failed"] == ["011"] and report["sent"] == {"014": 1}
    assert status_of(broken) == "pending" and status_of(fine) == "sent"
    monkeypatch.setattr(queues, "send_json", real)
    assert dispatch.run_schedule(NOW)["sent"] == {"011": 1}


def test_operators_see_the_alerts_and_payouts_of_the_loop(loop, call):
    known = payout("004", 1_000)
    statuses.handle_message(status_message("004", ("wd_00000000000000ff", "ACSC", None)))
    _, body, _ = call("GET", "/v1/admin/alerts", role="operator")
    assert [a["kind"] for a in body["items"]] == ["unknown_payout"]
    _, one, _ = call("GET", f"/v1/admin/payouts/{known}", role="auditor")
    assert one["status"] == "pending" and one["inquiry"] is False and "account_no" not in json.dumps(one)


def test_a_payout_named_twice_in_one_message_is_settled_once(loop):
    a, b = payout("004", 1_000), payout("004", 2_000)
    body = status_message("004", (a, "ACSC", None), (b, "ACSC", None), (a, "ACSC", None), (a, "RJCT", "AC01"))
    assert statuses.handle_message(body) == {"settled": 2, "duplicate": 1, "contradiction": 1}
    assert audited()["paid_out_satang"] == 3_000


def test_a_run_short_of_time_starts_no_message_and_defers_the_banks_it_did_not_reach(loop):
    first, second = payout("002", 1_000), payout("004", 2_000)
    clock = iter([60.0, 60.0, 10.0])  # seconds left: for the first bank and its message, then short
    report = dispatch.run_schedule(NOW, banks=("002", "004"), time_left=lambda: next(clock, 10.0))
    order = dispatch.in_turn(("002", "004"), NOW)
    assert report["sent"] == {order[0]: 1} and report["deferred"] == [order[1]]
    sent, waiting = (first, second) if order[0] == "002" else (second, first)
    assert status_of(sent) == "sent" and status_of(waiting) == "pending"
    assert audited()["in_flight_satang"] == 3_000  # the deferred payout waits in the ledger
    # The next run has the time: the deferred bank's payout goes.
    assert dispatch.run_schedule(NOW, banks=("002", "004"), time_left=lambda: 60.0)["sent"] == {order[1]: 1}
    assert status_of(waiting) == "sent"
    assert dispatch.dispatch_bank("004", NOW, time_left=lambda: dispatch.MESSAGE_RESERVE_S - 1) == 0


def test_the_banks_take_turns_at_going_first():
    banks = ("002", "004", "006")
    firsts = [dispatch.in_turn(banks, NOW + timedelta(minutes=m))[0] for m in range(3)]
    assert sorted(firsts) == list(banks)  # each first once in three runs
    assert all(sorted(dispatch.in_turn(banks, NOW + timedelta(minutes=m))) == list(banks) for m in range(5))
