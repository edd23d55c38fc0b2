"""What AWS does around the app, locally: SQS event sources and schedules.

Generic: the handlers are discovered from the Chalice app object (its SQS
event sources and schedules) and called as Lambda calls them, through
``app.handler_map[name](event, context)``. For SQS:
- an event of up to 10 records (Lambda's shape: distinct messageIds, receipt
  handles, attributes, message attributes, ARN, region);
- a returned ``{"batchItemFailures": [{"itemIdentifier": messageId}]}``
  deletes only the other messages; the failed ones come back after the
  visibility timeout (and go to the DLQ after the queue's maxReceiveCount);
- an exception, or a response naming an unknown message, fails the whole batch.
Schedules fire faster than in production, so that local runs do not wait
for minutes: a schedule of every minute (or less) fires every
``schedule_rate_s`` seconds, a longer rate as many ticks apart as it has
minutes (an hourly ledger check every 60 ticks), so that their proportions
hold and a heavy hourly job does not run every few seconds.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from chalice.app import Chalice, ScheduledEventConfig, SQSEventConfig

__all__ = [
    "SQS_BATCH_SIZE_MAX",
    "ticks_between",
    "LambdaContext",
    "Pump",
    "PumpStats",
    "ScheduleSource",
    "SqsSource",
    "discover",
    "failed_message_ids",
    "scheduled_event",
    "sqs_event",
    "stage_queue_resolver",
]

# ReceiveMessage returns at most 10 messages; so does one local Lambda event.
SQS_BATCH_SIZE_MAX = 10
LOCAL_ACCOUNT_ID = "123456789012"
# Lambda's budget per invocation as the local context reports it, for a
# handler without a declaration (a declared one gets its own timeout).
LAMBDA_TIMEOUT_MS = 900_000
LAMBDA_MEMORY_MB = 1024
DEFAULT_WAIT_TIME_S = 1

log = logging.getLogger("devstack.pump")

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class SqsSource:
    name: str
    queue_name: str
    batch_size: int
    handler: Handler


@dataclass(frozen=True)
class ScheduleSource:
    name: str
    expression: str
    handler: Handler


_RATE_MINUTES = {"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}


def ticks_between(expression: str) -> int:
    """Local ticks between two fires of ``rate(N unit)``: one per minute of
    the rate (at least 1); a cron expression fires every tick."""
    text = expression.strip()
    if not (text.startswith("rate(") and text.endswith(")")):
        return 1
    parts = text[5:-1].split()
    if len(parts) != 2 or not parts[0].isdigit():
        return 1
    return max(1, int(parts[0]) * _RATE_MINUTES.get(parts[1].lower(), 1))


def stage_queue_resolver(settings: Any) -> Callable[[str], str]:
    """Map a queue name of any stage to this stage's queue of the same short
    name. Chalice reads queue names when app.py is imported, so an app
    imported under one stage keeps that stage's names; tests that give every
    test its own stage use this to pump the current stage's queues."""
    from chalicelib import queues

    def resolve(name: str) -> str:
        for short in sorted(queues.QUEUES, key=len, reverse=True):
            if name.startswith("wallet-") and name.endswith(f"-{short}"):
                return str(settings.queue_name(short))
        return name
    return resolve


def discover(app: Chalice) -> tuple[list[SqsSource], list[ScheduleSource]]:
    """The app's SQS event sources and schedules, with the functions Lambda calls."""
    sqs_sources: list[SqsSource] = []
    schedules: list[ScheduleSource] = []
    for source in app.event_sources:
        handler = app.handler_map[source.name]
        if isinstance(source, SQSEventConfig):
            queue = source.queue or (source.queue_arn or "").rsplit(":", 1)[-1]
            batch = max(1, min(int(source.batch_size or 1), SQS_BATCH_SIZE_MAX))
            sqs_sources.append(SqsSource(source.name, queue, batch, handler))
        elif isinstance(source, ScheduledEventConfig):
            expression = source.schedule_expression
            text = expression if isinstance(expression, str) else expression.to_string()
            schedules.append(ScheduleSource(source.name, text, handler))
        else:
            log.warning("event source %s (%s) is not run locally", source.name,
                        type(source).__name__)
    return sqs_sources, schedules


class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, function_name: str, region: str,
                 timeout_ms: int = LAMBDA_TIMEOUT_MS, memory_mb: int = LAMBDA_MEMORY_MB) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{function_name}")
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=timeout_ms)

    def get_remaining_time_in_millis(self) -> int:
        left = self._deadline - dt.datetime.now(dt.UTC)
        return max(0, int(left.total_seconds() * 1000))

    @classmethod
    def declared(cls, function_name: str, region: str) -> LambdaContext:
        """The context Lambda gives ``function_name``: its declared timeout
        and memory (app.py's ``functions.declare``), so that a handler that
        budgets from the time left budgets locally as it does on Lambda."""
        from chalicelib import functions

        spec = functions.declared().get(function_name)
        if spec is None:
            return cls(function_name, region)
        return cls(function_name, region, timeout_ms=spec.timeout_s * 1000, memory_mb=spec.memory_mb)


def _message_attributes(raw: Mapping[str, Any]) -> dict[str, Any]:
    # ReceiveMessage says StringValue/BinaryValue/DataType; Lambda's event says
    # stringValue/binaryValue/dataType plus the (unused) list values.
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
        for name, value in raw.items()
    }


def sqs_event(messages: list[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller hands the function for ``messages``."""
    return {"Records": [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": dict(m.get("Attributes", {})),
        "messageAttributes": _message_attributes(m.get("MessageAttributes", {})),
        "md5OfBody": m.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    } for m in messages]}


def scheduled_event(rule_name: str, region: str) -> dict[str, Any]:
    """The event EventBridge sends for a scheduled rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{LOCAL_ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }


def failed_message_ids(response: Any, batch_ids: set[str]) -> set[str] | None:
    """Message ids the handler reports as failed; None when the whole batch
    failed (Lambda treats a malformed report as a failure of every record)."""
    if not isinstance(response, Mapping) or "batchItemFailures" not in response:
        return set()
    failures = response["batchItemFailures"]
    if not isinstance(failures, list):
        return None
    failed = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(item, str) or item not in batch_ids:
            return None
        failed.add(item)
    return failed


@dataclass
class PumpStats:
    """What the pump did (the tests read it)."""
    invocations: int = 0
    messages_done: int = 0
    messages_failed: int = 0
    batches_failed: int = 0
    schedule_fires: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)

    def fired(self, name: str) -> None:
        with self._lock:
            self.schedule_fires[name] = self.schedule_fires.get(name, 0) + 1


class Pump:
    """One poller thread per SQS event source, one thread for the schedules."""

    def __init__(self, app: Chalice, sqs_endpoint: str | None, region: str,
                 schedule_rate_s: float, wait_time_s: int = DEFAULT_WAIT_TIME_S,
                 visibility_timeout_s: int | None = None,
                 queue_resolver: Callable[[str], str] | None = None) -> None:
        self.app = app
        self.region = region
        self.schedule_rate_s = schedule_rate_s
        self.wait_time_s = wait_time_s
        self.visibility_timeout_s = visibility_timeout_s
        self.sqs_sources, self.schedules = discover(app)
        self.stats = PumpStats()
        self._sqs = boto3.client("sqs", endpoint_url=sqs_endpoint, region_name=region)
        self._resolve = queue_resolver or (lambda name: name)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Pump:
        for source in self.sqs_sources:
            queue_name = self._resolve(source.queue_name)
            url = self._sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            self._spawn(f"sqs-{source.name}", self._poll_loop, source, url, arn)
            log.info("sqs %s <- queue %s (batch of up to %d)", source.name, queue_name,
                     source.batch_size)
        if self.schedules:
            self._spawn("schedules", self._schedule_loop)
            for schedule in self.schedules:
                log.info("schedule %s (%s) fires every %ss locally", schedule.name,
                         schedule.expression, self.schedule_rate_s)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"pump-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _poll_loop(self, source: SqsSource, url: str, arn: str) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(source, url, arn)
            except Exception:
                log.exception("sqs %s: polling failed; retrying", source.name)
                self._stop.wait(self.wait_time_s)

    def poll_once(self, source: SqsSource, url: str, arn: str) -> int:
        """Receive one batch and run it through the handler; returns its size."""
        request: dict[str, Any] = {
            "QueueUrl": url, "MaxNumberOfMessages": source.batch_size,
            "WaitTimeSeconds": self.wait_time_s, "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"]}
        if self.visibility_timeout_s is not None:
            request["VisibilityTimeout"] = self.visibility_timeout_s
        messages = self._sqs.receive_message(**request).get("Messages", [])
        if messages:
            self._invoke(source, url, arn, messages)
        return len(messages)

    def _invoke(self, source: SqsSource, url: str, arn: str,
                messages: list[dict[str, Any]]) -> None:
        ids = {m["MessageId"] for m in messages}
        event = sqs_event(messages, arn, self.region)
        self.stats.add(invocations=1)
        try:
            response = source.handler(event, LambdaContext.declared(source.name, self.region))
        except Exception:
            log.exception("sqs %s: handler raised; all %d messages come back after the "
                          "visibility timeout", source.name, len(messages))
            self.stats.add(batches_failed=1, messages_failed=len(messages))
            return
        failed = failed_message_ids(response, ids)
        if failed is None:
            log.error("sqs %s: batchItemFailures names no message of this batch (%r); "
                      "all %d messages come back", source.name, response, len(messages))
            self.stats.add(batches_failed=1, messages_failed=len(messages))
            return
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                       for i, m in enumerate(done)]
            result = self._sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            for failure in result.get("Failed", []):
                log.warning("sqs %s: could not delete a message: %s", source.name,
                            failure.get("Message"))
        self.stats.add(messages_done=len(done), messages_failed=len(failed))
        if failed:
            log.info("sqs %s: %d done, %d failed (back after the visibility timeout)",
                     source.name, len(done), len(failed))
        else:
            log.info("sqs %s: %d done", source.name, len(done))

    def _schedule_loop(self) -> None:
        tick = 0
        while not self._stop.wait(self.schedule_rate_s):
            tick += 1
            self.fire_schedules(tick)

    def fire_schedules(self, tick: int | None = None) -> None:
        """Call every schedule's handler once (a failure is logged, as Lambda
        would); with ``tick``, only those due at that tick (ticks_between)."""
        for schedule in self.schedules:
            if self._stop.is_set():
                return
            if tick is not None and tick % ticks_between(schedule.expression) != 0:
                continue
            try:
                schedule.handler(scheduled_event(schedule.name, self.region),
                                 LambdaContext.declared(schedule.name, self.region))
                log.debug("schedule %s fired", schedule.name)
            except Exception:
                log.exception("schedule %s raised", schedule.name)
            self.stats.fired(schedule.name)
