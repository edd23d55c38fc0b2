"""The pump plays Lambda around a Chalice app that the test defines: every
message reaches the SQS handler in Lambda-shaped batches, reported failures
come back after the visibility timeout and then succeed, an exception retries
the whole batch, a message that always fails ends in the DLQ, and schedules
fire. Runs against moto in server mode, as the local stack does."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from chalice import Chalice, Rate

from chalicelib import queues
from devstack import resources
from devstack.pump import Pump, failed_message_ids, sqs_event

QUEUE = "activation"
VISIBILITY_TIMEOUT_S = 1
SCHEDULE_RATE_S = 0.3
WAIT_LIMIT_S = 30.0


@pytest.fixture
def sqs_stage(moto_server_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh stage whose queues live on the session's moto server."""
    from chalicelib.config import get_settings, rebuild

    for name, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                        "AWS_DEFAULT_REGION": "ap-southeast-1", "AWS_REGION": "ap-southeast-1",
                        "WALLET_STAGE": f"p{uuid.uuid4().hex[:10]}",
                        "WALLET_SQS_ENDPOINT": moto_server_endpoint}.items():
        monkeypatch.setenv(name, value)
    rebuild()
    resources.create_queues(get_settings())
    yield get_settings()
    monkeypatch.undo()
    rebuild()


class Recorder:
    """What the test app's handlers saw."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: Counter[int] = Counter()
        self.done: set[int] = set()
        self.events: list[dict[str, Any]] = []
        self.ticks: list[dict[str, Any]] = []
        self.raised = False


def build_app(queue_name: str, rec: Recorder,
              fails: Callable[[int, int], bool], raise_first_batch: bool = False) -> Chalice:
    """An app with one SQS handler (failing what ``fails(n, attempt)`` says)
    and one schedule, as app.py would declare them."""
    app = Chalice(app_name="pump-test")

    @app.on_sqs_message(queue=queue_name, batch_size=10)
    def work(event: Any) -> dict[str, Any]:
        raw = event.to_dict()
        with rec.lock:
            rec.events.append(raw)
            if raise_first_batch and not rec.raised:
                rec.raised = True
                for record in raw["Records"]:
                    rec.attempts[json.loads(record["body"])["n"]] += 1
                raise RuntimeError("the whole batch fails")
        failures = []
        for record in raw["Records"]:
            n = json.loads(record["body"])["n"]
            with rec.lock:
                rec.attempts[n] += 1
                attempt = rec.attempts[n]
            if fails(n, attempt):
                failures.append({"itemIdentifier": record["messageId"]})
            else:
                with rec.lock:
                    rec.done.add(n)
        return {"batchItemFailures": failures}

    @app.schedule(Rate(5, unit=Rate.MINUTES))
    def tick(event: Any) -> None:
        with rec.lock:
            rec.ticks.append(event.to_dict())

    return app


def start_pump(app: Chalice, settings: Any) -> Pump:
    return Pump(app, settings.sqs_endpoint, settings.region, schedule_rate_s=SCHEDULE_RATE_S,
                visibility_timeout_s=VISIBILITY_TIMEOUT_S).start()


def wait_for(condition: Callable[[], bool], limit_s: float = WAIT_LIMIT_S) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def queue_depth(settings: Any, short: str) -> int:
    sqs = boto3.client("sqs", endpoint_url=settings.sqs_endpoint, region_name=settings.region)
    url = sqs.get_queue_url(QueueName=settings.queue_name(short))["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"])


def test_every_message_is_handled_and_reported_failures_come_back_then_succeed(sqs_stage):
    rec = Recorder()
    count = 25
    app = build_app(sqs_stage.queue_name(QUEUE), rec, fails=lambda n, attempt: n % 3 == 0 and attempt == 1)
    for n in range(count):
        queues.send_json(QUEUE, {"n": n})
    pump = start_pump(app, sqs_stage)
    try:
        wait_for(lambda: len(rec.done) == count)
        wait_for(lambda: queue_depth(sqs_stage, QUEUE) == 0)
    finally:
        pump.stop()

    failing = {n for n in range(count) if n % 3 == 0}
    assert rec.done == set(range(count))
    assert {n: c for n, c in rec.attempts.items() if c != 1} == {n: 2 for n in failing}
    assert pump.stats.messages_done == count
    assert pump.stats.messages_failed == len(failing)
    for event in rec.events:
        records = event["Records"]
        assert 1 <= len(records) <= 10
        assert len({r["messageId"] for r in records}) == len(records)
        assert len({r["receiptHandle"] for r in records}) == len(records)
        for record in records:
            assert record["eventSource"] == "aws:sqs"
            assert record["eventSourceARN"].endswith(":" + sqs_stage.queue_name(QUEUE))
            assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1
    redelivered = [r for e in rec.events for r in e["Records"]
                   if int(r["attributes"]["ApproximateReceiveCount"]) == 2]
    assert {json.loads(r["body"])["n"] for r in redelivered} == failing


def test_an_exception_retries_the_whole_batch(sqs_stage):
    rec = Recorder()
    count = 5
    app = build_app(sqs_stage.queue_name(QUEUE), rec, fails=lambda n, attempt: False,
                    raise_first_batch=True)
    for n in range(count):
        queues.send_json(QUEUE, {"n": n})
    pump = start_pump(app, sqs_stage)
    try:
        wait_for(lambda: len(rec.done) == count)
        wait_for(lambda: queue_depth(sqs_stage, QUEUE) == 0)
    finally:
        pump.stop()

    first_batch = {json.loads(r["body"])["n"] for r in rec.events[0]["Records"]}
    assert first_batch
    assert pump.stats.batches_failed == 1
    assert all(rec.attempts[n] == 2 for n in first_batch)
    assert rec.done == set(range(count))


def test_a_message_that_always_fails_moves_to_the_dead_letter_queue(sqs_stage):
    rec = Recorder()
    app = build_app(sqs_stage.queue_name(QUEUE), rec, fails=lambda n, attempt: n == 0)
    queues.send_json(QUEUE, {"n": 0})
    queues.send_json(QUEUE, {"n": 1})
    pump = start_pump(app, sqs_stage)
    try:
        wait_for(lambda: queue_depth(sqs_stage, queues.dlq_short_name(QUEUE)) == 1)
        wait_for(lambda: queue_depth(sqs_stage, QUEUE) == 0)
    finally:
        pump.stop()

    assert rec.attempts[0] == queues.MAX_RECEIVE_COUNT
    assert rec.done == {1}


def test_schedules_fire_at_the_local_rate_with_an_eventbridge_event(sqs_stage):
    rec = Recorder()
    app = build_app(sqs_stage.queue_name(QUEUE), rec, fails=lambda n, attempt: False)
    pump = start_pump(app, sqs_stage)
    try:
        wait_for(lambda: len(rec.ticks) >= 3, limit_s=10)
    finally:
        pump.stop()
    assert [s.name for s in pump.schedules] == ["tick"]
    assert rec.ticks[0]["detail-type"] == "Scheduled Event"
    assert rec.ticks[0]["source"] == "aws.events"
    assert rec.ticks[0]["resources"][0].endswith(":rule/tick")


def test_a_report_naming_an_unknown_message_fails_the_whole_batch():
    batch = {"m1", "m2"}
    assert failed_message_ids({"batchItemFailures": []}, batch) == set()
    assert failed_message_ids(None, batch) == set()
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "m2"}]}, batch) == {"m2"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, batch) is None
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, batch) is None
    assert failed_message_ids({"batchItemFailures": "m1"}, batch) is None


def test_the_sqs_event_has_lambdas_shape():
    message = {"MessageId": "id-1", "ReceiptHandle": "rh-1", "Body": "{}", "MD5OfBody": "x",
               "Attributes": {"ApproximateReceiveCount": "1"},
               "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"}}}
    record = sqs_event([message], "arn:aws:sqs:ap-southeast-1:123456789012:q", "ap-southeast-1")[
        "Records"][0]
    assert record["messageId"] == "id-1"
    assert record["receiptHandle"] == "rh-1"
    assert record["messageAttributes"]["k"]["stringValue"] == "v"
    assert record["messageAttributes"]["k"]["dataType"] == "String"
    assert record["awsRegion"] == "ap-southeast-1"
