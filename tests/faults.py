"""Faults DynamoDB makes under load and no emulator does, injected at the
botocore level so that all of the production code runs.

``ConflictInjector`` answers the next ``n`` TransactWriteItems of the shared
connection's client as DynamoDB answers a transaction that collided with
another one (``TransactionCanceledException``, every reason
``TransactionConflict`` or ``None``), before the request reaches moto or
DynamoDB Local: nothing of it is written.
"""
from __future__ import annotations

import json
import threading
from typing import Any, ClassVar

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from chalicelib import db

__all__ = ["ConflictInjector", "conflict_response", "Crash", "Faults", "cancelled_body", "THROTTLED_BODY",
           "THROTTLING_BODY"]

_EVENT = "before-call.dynamodb.TransactWriteItems"


class _Http:
    status_code = 400
    headers: ClassVar[dict[str, str]] = {}


def conflict_response(items: int) -> tuple[Any, dict[str, Any]]:
    """What botocore parses from DynamoDB's answer to a conflicting transaction of ``items`` items."""
    reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
    reasons += [{"Code": "None"}] * (items - 1)
    return _Http(), {
        "Error": {"Code": "TransactionCanceledException",
                  "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons"},
        "CancellationReasons": reasons,
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


class ConflictInjector:
    """``with ConflictInjector() as faults: faults.arm(2)`` makes the next two
    transactions conflict; ``injected`` counts those answered so."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed = 0
        self.injected = 0
        self._client: Any = None

    def arm(self, count: int) -> None:
        with self._lock:
            self._armed = count

    def _answer(self, params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        with self._lock:
            if self._armed <= 0:
                return None
            self._armed -= 1
            self.injected += 1
        # ``params`` is the serialized request here: its body is the JSON sent.
        return conflict_response(len(json.loads(params["body"])["TransactItems"]))

    def __enter__(self) -> ConflictInjector:
        self._client = db.connection().client
        self._client.meta.events.register(_EVENT, self._answer)
        return self

    def __exit__(self, *_: Any) -> None:
        self._client.meta.events.unregister(_EVENT, self._answer)


# -- Scripted faults on every DynamoDB call of the shared client --------------------

class Crash(BaseException):
    """The process dies here (a Lambda killed mid-call): a BaseException, so
    that no ``except Exception`` of the code under test can swallow it; only
    what was written before it stays."""


class _FaultResponse:
    """An HTTP answer of DynamoDB as botocore reads it from the network."""

    def __init__(self, body: dict[str, Any]) -> None:
        self._data = json.dumps(body).encode()

    def stream(self, **_: Any) -> Any:
        yield self._data


THROTTLED_BODY = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                  "message": "The level of configured provisioned throughput for the table was exceeded."}
THROTTLING_BODY = {"__type": "com.amazon.coral.availability#ThrottlingException",
                   "message": "Throughput exceeds the current capacity for one or more global secondary indexes."}


def cancelled_body(items: int, code: str) -> dict[str, Any]:
    """TransactWriteItems cancelled for ``code`` on its first item (the others ``None``)."""
    reasons = [{"Code": code, "Message": code}] + [{"Code": "None"}] * (items - 1)
    return {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{code}]",
            "CancellationReasons": reasons}


class _Rule:
    def __init__(self, kind: str, operation: str, times: int, skip: int, table: str | None) -> None:
        self.kind, self.operation, self.times, self.skip, self.table = kind, operation, times, skip, table
        self.fired = 0

    def matches(self, operation: str, body: bytes) -> bool:
        if operation != self.operation or self.fired >= self.times:
            return False
        if self.table is not None and self.table not in body.decode(errors="replace"):
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        self.fired += 1
        return True


class Faults:
    """Faults of DynamoDB scripted per operation on the shared connection's
    client, at the botocore level (``before-send``: botocore's own retry
    policy runs on them as it does against DynamoDB), for moto in-process:

    - ``throttle(op, times)``: the request never reaches the table; answered
      ``ProvisionedThroughputExceededException`` (or ``ThrottlingException``);
    - ``cancel(times, code)``: a TransactWriteItems cancelled for
      ``TransactionConflict`` (or ``ThrottlingError``), nothing written;
    - ``timeout_after_write(op, times)``: the table applies the request, the
      client gets a read timeout instead of the answer (so botocore retries
      a write that was done);
    - ``crash(op, after=False)``: the process dies before the request is sent
      (or after it was applied): ``Crash`` propagates.

    ``skip`` lets that many matching calls through first; ``table`` matches a
    substring of the request's body (a table name). ``log`` lists what fired.
    """

    _DROPPED = "http://fault-injected.invalid/"

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self.log: list[tuple[str, str]] = []
        self._client: Any = None

    def _add(self, kind: str, operation: str, times: int, skip: int, table: str | None) -> Faults:
        self._rules.append(_Rule(kind, operation, times, skip, table))
        return self

    def throttle(self, operation: str, times: int = 1, *, skip: int = 0, table: str | None = None,
                 body: dict[str, Any] | None = None) -> Faults:
        rule = _Rule("throttle", operation, times, skip, table)
        rule.body = body or THROTTLED_BODY  # type: ignore[attr-defined]
        self._rules.append(rule)
        return self

    def cancel(self, times: int = 1, code: str = "TransactionConflict", *, skip: int = 0,
               table: str | None = None) -> Faults:
        rule = _Rule("cancel", "TransactWriteItems", times, skip, table)
        rule.code = code  # type: ignore[attr-defined]
        self._rules.append(rule)
        return self

    def timeout_after_write(self, operation: str, times: int = 1, *, skip: int = 0,
                            table: str | None = None) -> Faults:
        return self._add("timeout_after", operation, times, skip, table)

    def crash(self, operation: str, *, after: bool = False, skip: int = 0, table: str | None = None) -> Faults:
        return self._add("crash_after" if after else "crash_before", operation, 1, skip, table)

    def fired(self, kind: str | None = None) -> int:
        return sum(1 for k, _ in self.log if kind is None or k == kind)

    @staticmethod
    def _operation(request: Any) -> str:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        return str(target).rpartition(".")[2]

    @staticmethod
    def _body(request: Any) -> bytes:
        body = request.body or b""
        return body if isinstance(body, bytes) else str(body).encode()

    def _first(self, request: Any, **_: Any) -> Any:
        """Before the table sees the request (registered first)."""
        operation, body = self._operation(request), self._body(request)
        for rule in self._rules:
            if rule.kind in ("throttle", "cancel", "crash_before") and rule.matches(operation, body):
                self.log.append((rule.kind, operation))
                if rule.kind == "crash_before":
                    raise Crash(f"crash before {operation}")
                answer = (rule.body if rule.kind == "throttle"  # type: ignore[attr-defined]
                          else cancelled_body(len(json.loads(body)["TransactItems"]), rule.code))  # type: ignore[attr-defined]
                # Nothing behind this handler (moto) may apply the request.
                request.url = self._DROPPED
                return AWSResponse(self._DROPPED, 400, {"x-amzn-RequestId": "fault"}, _FaultResponse(answer))
        return None

    def _last(self, request: Any, **_: Any) -> None:
        """After moto applied the request (registered last)."""
        operation, body = self._operation(request), self._body(request)
        for rule in self._rules:
            if rule.kind in ("timeout_after", "crash_after") and rule.matches(operation, body):
                self.log.append((rule.kind, operation))
                if rule.kind == "crash_after":
                    raise Crash(f"crash after {operation}")
                raise ReadTimeoutError(endpoint_url=request.url)

    def __enter__(self) -> Faults:
        self._client = db.connection().client
        self._client.meta.events.register_first("before-send.dynamodb", self._first)
        # moto answers on the less specific "before-send", which botocore
        # calls after every "before-send.dynamodb" handler: last there is
        # after moto applied the request.
        self._client.meta.events.register_last("before-send", self._last)
        return self

    def __exit__(self, *_: Any) -> None:
        self._client.meta.events.unregister("before-send.dynamodb", self._first)
        self._client.meta.events.unregister("before-send", self._last)
