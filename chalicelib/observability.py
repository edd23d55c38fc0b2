"""Logs, metrics and traces of every handler, through one Chalice middleware.

- **Logger** (Powertools, JSON on stdout): every component logs through a
  child of the one ``wallet`` logger (``component_logger()``), so the
  correlation id the middleware sets appears on every line of the request
  or message. The id is the caller's ``X-Correlation-Id`` when it is a
  plausible id, else API Gateway's request id; for an SQS message, the
  ``correlation_id`` attribute its sender set (``queues.send_json`` copies
  the current one), else the message id. Lines carry ids and codes only,
  never personal data or secrets.
- **Metrics** (Powertools, CloudWatch embedded metric format on stdout,
  namespace ``Wallet``): per HTTP request ``Requests`` and ``LatencyMs`` by
  use case (method and route template), ``Rejections`` by use case and error
  code (422's rule codes, 429, 503...), ``ServerErrors``; for the payment
  routes ``Payments`` and ``PaymentSatang`` by kind; per SQS message
  ``MessagesHandled``/``MessagesFailed``/``MessageLatencyMs`` by handler; per
  schedule run ``ScheduleRuns``/``ScheduleLatencyMs``; and what the use cases
  count themselves with ``count()`` (``WalletsCredited``, ...). Each value is
  written as it happens (``single_metric``): no buffer shared between the
  local server's threads.
- **Tracer** (X-Ray, on Lambda only): botocore patched, so every DynamoDB
  call (each transaction among them) is a subsegment; a subsegment per use
  case. Made at the container's first event (``tracer()``).

The middleware also splits an SQS batch into one record at a time, so that
each message has its own correlation id and its own share of the
invocation's time (``RecordContext``): a handler that budgets from
``context.get_remaining_time_in_millis()`` leaves time for the records after
it. The failures come back together as ``batchItemFailures``.
"""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from chalicelib.config import runtime

__all__ = [
    "CORRELATION_HEADER",
    "CORRELATION_ATTRIBUTE",
    "NAMESPACE",
    "PAYMENT_ROUTES",
    "RECORD_MARGIN_MS",
    "RecordContext",
    "component_logger",
    "correlation_id",
    "count",
    "logger",
    "middleware",
    "timing",
    "tracer",
]

SERVICE = "wallet"
NAMESPACE = "Wallet"
CORRELATION_HEADER = "x-correlation-id"
CORRELATION_ATTRIBUTE = "correlation_id"
# What a caller may send as its correlation id; anything else is replaced.
_CORRELATION_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# Kept back from a batch's time for the records' bookkeeping and the return.
RECORD_MARGIN_MS = 3000
# Use cases whose successful answers are payments, and their kind.
PAYMENT_ROUTES = {
    "POST /v1/payments": "qr",
    "POST /v1/card-payments": "card",
    "POST /v1/merchant-payments": "merchant",
}

logger = Logger(service=SERVICE)
_local = threading.local()


def tracer() -> Tracer:
    """The container's Tracer, made at its first event rather than at import:
    the X-Ray SDK it loads to patch botocore is about a fifth of app.py's
    import (bench/coldstart.py), and a function's first event needs it anyway."""
    return runtime().component("tracer", lambda: Tracer(service=SERVICE, patch_modules=("botocore",)))


def component_logger() -> Logger:
    """The logger of a module: a child of the wallet logger (same handler,
    same correlation id), its lines naming the module in ``location``."""
    return Logger(service=SERVICE, child=True)


def correlation_id() -> str | None:
    """The correlation id of the request or message being handled here."""
    return getattr(_local, "correlation_id", None)


@contextmanager
def _correlated(value: str, **keys: Any) -> Iterator[str]:
    previous = correlation_id()
    _local.correlation_id = value
    logger.thread_safe_append_keys(correlation_id=value, **keys)
    try:
        yield value
    finally:
        logger.thread_safe_remove_keys(["correlation_id", *keys])
        _local.correlation_id = previous
        if previous is not None:
            logger.thread_safe_append_keys(correlation_id=previous)


def _clean_correlation(value: Any) -> str | None:
    return value if isinstance(value, str) and _CORRELATION_PATTERN.match(value) else None


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Add ``value`` to the counter ``name`` (EMF, one blob per call)."""
    _emit(name, MetricUnit.Count, value, dimensions)


def timing(name: str, milliseconds: float, **dimensions: str) -> None:
    _emit(name, MetricUnit.Milliseconds, milliseconds, dimensions)


def _emit(name: str, unit: MetricUnit, value: float, dimensions: Mapping[str, str]) -> None:
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE,
                       default_dimensions={"service": SERVICE}) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=str(dimension))


# -- HTTP ---------------------------------------------------------------------------

def _use_case(event: Any) -> str:
    context = getattr(event, "context", None) or {}
    route = context.get("resourcePath") or "unknown"  # the template: never a card code or an ID
    return f"{event.method} {route}"


def _body(response: Any) -> Any:
    """The response's JSON body (the edge serializes it before returning)."""
    body = response.body
    if isinstance(body, (str, bytes)) and body[:1] in ("{", b"{"):
        try:
            return json.loads(body)
        except ValueError:
            return None
    return body


def _error_code(response: Any) -> str:
    body = _body(response)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return str(error["code"])
    return str(response.status_code)


def _payment(use_case: str, response: Any) -> None:
    kind = PAYMENT_ROUTES.get(use_case)
    if kind is None or not 200 <= response.status_code < 300:
        return
    headers = {k.lower(): v for k, v in (response.headers or {}).items()}
    if headers.get("idempotent-replayed") == "true":
        count("PaymentReplays", Kind=kind)
        return
    count("Payments", Kind=kind)
    body = _body(response)
    amount = body.get("amount_satang") if isinstance(body, dict) else None
    if isinstance(amount, int):
        count("PaymentSatang", amount, Kind=kind)


def _http(event: Any, get_response: Callable[[Any], Any]) -> Any:
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    context = getattr(event, "context", None) or {}
    cid = _clean_correlation(headers.get(CORRELATION_HEADER)) or context.get("requestId") or uuid.uuid4().hex
    use_case = _use_case(event)
    started = time.perf_counter()
    with _correlated(cid, use_case=use_case):
        with tracer().provider.in_subsegment(f"## {use_case}"):
            response = get_response(event)
        elapsed_ms = (time.perf_counter() - started) * 1000
        status = response.status_code
        count("Requests", UseCase=use_case)
        timing("LatencyMs", elapsed_ms, UseCase=use_case)
        if 400 <= status < 500:
            count("Rejections", UseCase=use_case, Code=_error_code(response))
        elif status >= 500:
            count("ServerErrors", UseCase=use_case)
        _payment(use_case, response)
        logger.info("request", extra={"status": status, "latency_ms": round(elapsed_ms, 1)})
    response.headers = {**(response.headers or {}), "X-Correlation-Id": cid}
    return response


# -- SQS ----------------------------------------------------------------------------

class RecordContext:
    """The Lambda context as one record of a batch sees it: its share of the
    time left, so that a record that budgets from it leaves the rest theirs."""

    def __init__(self, context: Any, records_left: int) -> None:
        self._context = context
        self._records_left = max(1, records_left)

    def get_remaining_time_in_millis(self) -> int:
        remaining = int(self._context.get_remaining_time_in_millis()) - RECORD_MARGIN_MS
        return max(0, remaining // self._records_left)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _record_correlation(record: Mapping[str, Any]) -> str:
    attributes = record.get("messageAttributes") or {}
    sent = attributes.get(CORRELATION_ATTRIBUTE) or {}
    value = sent.get("stringValue") or sent.get("StringValue")
    return _clean_correlation(value) or str(record.get("messageId") or uuid.uuid4().hex)


def _handler_name(context: Any, default: str) -> str:
    """The declared function's name (wallet-<stage>-<name> on Lambda)."""
    name = getattr(context, "function_name", None)
    return str(name).rsplit("-", 1)[-1] if name else default


def _sqs(event: Any, get_response: Callable[[Any], Any]) -> Any:
    raw = event.to_dict()
    records = list(raw.get("Records") or [])
    handler = _handler_name(event.context, "sqs")
    one_record = type(event)  # Chalice's SQSEvent(event_dict, context)
    failures: list[dict[str, str]] = []
    for index, record in enumerate(records):
        message_id = str(record.get("messageId"))
        context = RecordContext(event.context, len(records) - index) if event.context is not None else None
        started = time.perf_counter()
        with _correlated(_record_correlation(record), message_id=message_id):
            try:
                result = get_response(one_record({**raw, "Records": [record]}, context))
                failed = any(f.get("itemIdentifier") == message_id
                             for f in (result or {}).get("batchItemFailures", []))
            except Exception as exc:
                logger.error("message failed", extra={"error_type": type(exc).__name__})
                failed = True
            elapsed_ms = (time.perf_counter() - started) * 1000
            count("MessagesFailed" if failed else "MessagesHandled", Handler=handler)
            timing("MessageLatencyMs", elapsed_ms, Handler=handler)
            logger.info("message", extra={"failed": failed, "latency_ms": round(elapsed_ms, 1)})
        if failed:
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


# -- schedules ----------------------------------------------------------------------

def _scheduled(event: Any, get_response: Callable[[Any], Any]) -> Any:
    handler = _handler_name(event.context, "schedule")
    started = time.perf_counter()
    with _correlated(str(getattr(event, "event_id", None) or uuid.uuid4().hex)):
        try:
            return get_response(event)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            count("ScheduleRuns", Handler=handler)
            timing("ScheduleLatencyMs", elapsed_ms, Handler=handler)
            logger.info("schedule run", extra={"handler": handler, "latency_ms": round(elapsed_ms, 1)})


def middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Register with ``app.register_middleware(middleware, "all")``."""
    tracer()  # botocore patched from the container's first event on
    kind = type(event).__name__
    if kind == "Request":
        return _http(event, get_response)
    if kind == "SQSEvent":
        return _sqs(event, get_response)
    if kind == "CloudWatchEvent":
        return _scheduled(event, get_response)
    return get_response(event)
