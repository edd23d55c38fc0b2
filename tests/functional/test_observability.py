"""What the dashboard and the logs would show of a payment and of an
activation, through app.py's middleware (chalicelib/observability.py):
Powertools' EMF metrics and JSON log lines captured as Lambda would print
them, the correlation id on every line of a request and carried through SQS
into the worker's lines."""
from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import observability, queues
from chalicelib.activation import service
from chalicelib.activation.source import MemoryPhaseSource
from chalicelib.clock import utcnow
from chalicelib.ledger import Ledger, accounts
from chalicelib.ledger.audit import audit_ledger
from devstack.pump import LambdaContext, sqs_event
from tests.functional.test_activation_api import operator
from tests.integration.test_activation_moto import AMOUNT, PHASE, definition, fund, seed
from tests.invariants import drained_summary

pytestmark = pytest.mark.functional


class Captured:
    def __init__(self, stdout: Any, logs: io.StringIO) -> None:
        self._stdout = stdout
        self._logs = logs

    def lines(self) -> list[dict[str, Any]]:
        text = self._stdout.readouterr().out + self._logs.getvalue()
        self._logs.seek(0)
        self._logs.truncate()  # each call returns what came since the last
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    @staticmethod
    def metrics(lines: list[dict[str, Any]], name: str) -> list[tuple[dict[str, str], float]]:
        """(dimensions, value) of every EMF blob that carries ``name``."""
        found = []
        for line in lines:
            meta = line.get("_aws")
            if not meta:
                continue
            (directive,) = meta["CloudWatchMetrics"]
            assert directive["Namespace"] == observability.NAMESPACE
            if any(m["Name"] == name for m in directive["Metrics"]):
                dims = {d: line[d] for d in directive["Dimensions"][0]}
                value = line[name]
                found.append((dims, sum(value) if isinstance(value, list) else value))
        return found


@pytest.fixture
def activation_world(moto_aws: Any, monkeypatch: pytest.MonkeyPatch) -> MemoryPhaseSource:
    """A phase whose first wave is due (as tests/functional/test_activation_api.py's world)."""
    source = MemoryPhaseSource({PHASE: definition(utcnow() - timedelta(minutes=5), waves=1)})
    monkeypatch.setattr(service, "default_source", lambda: source)
    return source


@pytest.fixture
def captured(capsys: pytest.CaptureFixture[str]) -> Iterator[Captured]:
    """EMF blobs go to stdout at each call; the logger's handler writes to
    the stream it was made with, so it is pointed at a buffer meanwhile."""
    handler = observability.logger.registered_handler
    logs = io.StringIO()
    previous = handler.setStream(logs)  # type: ignore[attr-defined]
    capsys.readouterr()
    try:
        yield Captured(capsys, logs)
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]


def test_a_payment_counts_latency_rejection_and_carries_the_callers_correlation_id(world, captured):
    correlation = f"pay-{uuid.uuid4().hex[:12]}"
    qr = world.qr(world.shop_a, 40_000)
    headers = {"Authorization": f"Bearer {world.citizen}", "Content-Type": "application/json",
               "Idempotency-Key": "obs-1", "X-Correlation-Id": correlation}
    body = json.dumps({"qr": qr, "category": "groceries"})
    paid = world.api.client.http.post("/v1/payments", headers=headers, body=body)
    assert paid.status_code == 201 and paid.headers["X-Correlation-Id"] == correlation
    replay = world.api.client.http.post("/v1/payments", headers=headers, body=body)
    assert replay.status_code == 201
    too_much = world.qr(world.shop_a, 2_000_000)  # the wallet has 1,000,000
    refused = world.api.client.http.post("/v1/payments", headers={**headers, "Idempotency-Key": "obs-2"},
                                         body=json.dumps({"qr": too_much, "category": "groceries"}))
    assert refused.status_code == 422 and json.loads(refused.body)["error"]["code"] == "insufficient_funds"

    lines = captured.lines()
    payments = Captured.metrics(lines, "Payments")
    assert payments == [({"service": "wallet", "Kind": "qr"}, 1)]  # the replay moved nothing: not a payment
    assert Captured.metrics(lines, "PaymentSatang") == [({"service": "wallet", "Kind": "qr"}, 40_000)]
    assert Captured.metrics(lines, "PaymentReplays") == [({"service": "wallet", "Kind": "qr"}, 1)]
    assert Captured.metrics(lines, "Rejections") == [
        ({"service": "wallet", "UseCase": "POST /v1/payments", "Code": "insufficient_funds"}, 1)]
    latencies = [v for dims, v in Captured.metrics(lines, "LatencyMs") if dims["UseCase"] == "POST /v1/payments"]
    assert len(latencies) == 3 and all(0 < v < 10_000 for v in latencies)
    requests = [line for line in lines
                if line.get("message") == "request" and line.get("correlation_id") == correlation]
    assert [r["status"] for r in requests] == [201, 201, 422]
    assert all(r["use_case"] == "POST /v1/payments" for r in requests)
    text = json.dumps(lines)
    assert world.citizen not in text and qr not in text  # no bearer token, no QR payload in logs
    assert drained_summary()["balanced"] is True and audit_ledger().ok


def _received() -> list[dict[str, Any]]:
    client = queues.sqs_client()
    url = queues.queue_url(service.ACTIVATION_QUEUE)
    got: list[dict[str, Any]] = []
    while batch := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                          AttributeNames=["All"]).get("Messages", []):
        got += batch
        client.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
    return got


def test_an_activation_carries_its_correlation_id_into_the_worker_and_counts_credits(
        activation_world, mint_token, captured):
    from chalice.test import Client

    from app import app

    wallets = seed(12, waves=1)
    fund(20 * AMOUNT)
    correlation = f"act-{uuid.uuid4().hex[:12]}"
    with Client(app) as client:
        response = client.http.post(f"/v1/admin/phases/{PHASE}/activate",
                                    headers={**operator(mint_token), "X-Correlation-Id": correlation},
                                    body=json.dumps({"wave": 1}))
        assert response.status_code == 202
    messages = _received()
    assert messages and all(m["MessageAttributes"]["correlation_id"]["StringValue"] == correlation
                            for m in messages)
    settings = queues.get_settings()
    arn = f"arn:aws:sqs:{settings.region}:123456789012:{queues.queue_name(service.ACTIVATION_QUEUE)}"
    worker = app.handler_map["activation_worker"]
    for start in range(0, len(messages), 10):
        result = worker(sqs_event(messages[start:start + 10], arn, settings.region),
                        LambdaContext("activation_worker", settings.region))
        assert result == {"batchItemFailures": []}

    lines = captured.lines()
    assert sum(v for _, v in Captured.metrics(lines, "WalletsCredited")) == len(wallets)
    assert sum(v for _, v in Captured.metrics(lines, "CreditedSatang")) == len(wallets) * AMOUNT
    handled = Captured.metrics(lines, "MessagesHandled")
    assert sum(v for _, v in handled) == len(messages)
    assert {d["Handler"] for d, _ in handled} == {"activation_worker"}
    assert not Captured.metrics(lines, "MessagesFailed")
    worker_lines = [line for line in lines if line.get("message") == "message"]
    assert len(worker_lines) == len(messages)
    assert {line["correlation_id"] for line in worker_lines} == {correlation}
    assert {line["message_id"] for line in worker_lines} == {m["MessageId"] for m in messages}
    ledger = Ledger()
    assert all(ledger.balance(accounts.wallet_account(w)) == AMOUNT for w in wallets)
    assert drained_summary()["balanced"] is True and audit_ledger().ok


def test_each_record_gets_its_share_of_the_time_left():
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 63_000

    shares = [observability.RecordContext(Context(), left).get_remaining_time_in_millis() for left in (10, 2, 1)]
    assert shares == [6_000, 30_000, 60_000]  # 63 s less the 3 s margin, over the records left
    # The last records' shares, less one page's overrun: what crediting budgets.
    assert service.message_budget_s(observability.RecordContext(Context(), 2)) == 30.0 - service.PAGE_OVERRUN_S
    # A share smaller than a page's overrun: no budget, the message does one page and hands on the rest.
    assert service.message_budget_s(observability.RecordContext(Context(), 10)) == 0.0
    assert service.message_budget_s(None) == 120  # called without Lambda's context (tests, scripts)


def test_the_ledger_check_publishes_the_imbalance_the_alarm_watches(world, captured):
    from app import app
    from devstack.pump import scheduled_event

    settings = queues.get_settings()
    check = app.handler_map["ledger_check"]
    check(scheduled_event("ledger_check", settings.region), LambdaContext("ledger_check", settings.region))
    lines = captured.lines()
    assert Captured.metrics(lines, "LedgerImbalanceSatang") == [({"service": "wallet"}, 0)]
    assert Captured.metrics(lines, "ScheduleRuns") == [({"service": "wallet", "Handler": "ledger_check"}, 1)]
    # money appears in a wallet outside the ledger's transfers: the check says so
    account = accounts.wallet_account("w1")
    item = accounts_model().get(account)
    item.update(actions=[accounts_model().balance_satang.add(500)])
    check(scheduled_event("ledger_check", settings.region), LambdaContext("ledger_check", settings.region))
    lines = captured.lines()
    assert Captured.metrics(lines, "LedgerImbalanceSatang") == [({"service": "wallet"}, 500)]
    (logged,) = [line for line in lines if line.get("message") == "ledger check"]
    assert logged["level"] == "ERROR" and logged["balanced"] is False
    # and the operators see it in their alerts, with the correlation id of the run on its log line
    listed = world.api.call("GET", "/v1/admin/alerts", world.operator).body["items"]
    assert [(a["kind"], a["details"]["imbalance_satang"]) for a in listed] == [("ledger_imbalance", 500)]
    (raised,) = [line for line in lines if line.get("message") == "alert raised"]
    assert raised["correlation_id"] == logged["correlation_id"]


def accounts_model() -> Any:
    from chalicelib.ledger.models import AccountModel

    return AccountModel


def test_payouts_are_counted_by_bank_and_status_as_the_dashboard_and_devstack_metrics_show_them(moto_aws, captured):
    from chalicelib import pii
    from chalicelib.ledger import Transfer
    from chalicelib.payouts import dispatch, statuses
    from chalicelib.payouts.cash_transfers import pay_cash_transfer
    from devstack import metrics as devstack_metrics

    ledger = Ledger()
    ledger.post(Transfer("fund-c", accounts.BUDGET_ACCOUNT, accounts.treasury_shard("cashm", 0), 3 * AMOUNT,
                         "phase_funding"))

    def pay(n: int) -> str:
        cid = f"110170023070{n}"
        return pay_cash_transfer(phase_id="cashm", citizen_hash=pii.hash_id(cid), promptpay_id=cid,
                                 amount_satang=AMOUNT, bank_code="011", treasury_shards=1).payout_id

    paid, back, silent = pay(1), pay(2), pay(3)
    pay(1)  # again: nothing held, nothing counted
    assert dispatch.dispatch_bank("011") == 3
    answer = {"message_type": "pacs.002", "msg_id": "m-obs", "bank_code": "011", "statuses": [
        {"original_end_to_end_id": paid, "status": "ACSC", "reason_code": None, "settled_at": None},
        {"original_end_to_end_id": back, "status": "RJCT", "reason_code": "AC04", "settled_at": None}]}
    statuses.handle_message(json.dumps(answer))
    statuses.handle_message(json.dumps(answer))  # a duplicate message counts nothing
    assert dispatch.flag_timeouts("011", utcnow() + timedelta(hours=25)) == 1  # the third: no word
    lines = captured.lines()
    counted: dict[str, float] = {}
    for dims, value in captured.metrics(lines, "Payouts"):
        assert set(dims) == {"service", "Bank", "Status"}  # the dashboard's SEARCH schema, exactly
        assert dims["Bank"] == "011"
        counted[dims["Status"]] = counted.get(dims["Status"], 0) + value
    assert counted == {"held": 3, "sent": 3, "settled": 1, "rejected": 1, "inquiry": 1}
    assert silent
    # `python -m devstack metrics` reads the same lines.
    counters, _ = devstack_metrics.summarize(devstack_metrics.read_metrics(json.dumps(line) for line in lines))
    shown = {(row[1], row[2]) for row in counters if row[0] == "Payouts"}
    assert {("Bank=011, Status=settled", "1"), ("Bank=011, Status=held", "3"),
            ("Bank=011, Status=inquiry", "1")} <= shown
