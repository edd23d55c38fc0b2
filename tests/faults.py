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

from chalicelib import db

__all__ = ["ConflictInjector", "conflict_response"]

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
