"""What DynamoDB was really sent: requests, items and consumed capacity.

A botocore event hook on every DynamoDB client made while the meter is
installed (PynamoDB and boto3 alike) counts each request by operation, the
items it carried, and, because the hook also asks for it
(``ReturnConsumedCapacity=TOTAL``), the capacity DynamoDB says it consumed.
"""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session

__all__ = ["Meter", "dynamodb_hooks", "empty_snapshot", "add_snapshot"]

_CAPACITY_OPS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
    "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
})


def _items_of(operation: str, params: dict[str, Any]) -> int:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return len(params.get("TransactItems", []))
    if operation == "BatchGetItem":
        return sum(len(t.get("Keys", [])) for t in params.get("RequestItems", {}).values())
    if operation == "BatchWriteItem":
        return sum(len(v) for v in params.get("RequestItems", {}).values())
    return 1


def _capacity_of(parsed: dict[str, Any]) -> tuple[float, float]:
    """(write units, read units) of one response."""
    consumed = parsed.get("ConsumedCapacity") or []
    if isinstance(consumed, dict):
        consumed = [consumed]
    write = read = 0.0
    for entry in consumed:
        total = float(entry.get("CapacityUnits", 0))
        w = entry.get("WriteCapacityUnits")
        r = entry.get("ReadCapacityUnits")
        if w is None and r is None:
            # Older emulators give only the total.
            write += total if entry.get("_write") else 0.0
            read += 0.0 if entry.get("_write") else total
        else:
            write += float(w or 0)
            read += float(r or 0)
    return write, read


def empty_snapshot() -> dict[str, Any]:
    """A total to add Meter snapshots to."""
    return {"requests": {}, "items": {}, "write_units": 0.0, "read_units": 0.0}


def add_snapshot(total: dict[str, Any], snap: dict[str, Any]) -> None:
    """Add one Meter.snapshot() to ``total`` (per operation and in units)."""
    for key in ("requests", "items"):
        for op, n in snap[key].items():
            total[key][op] = total[key].get(op, 0) + n
    total["write_units"] += snap["write_units"]
    total["read_units"] += snap["read_units"]


@contextmanager
def dynamodb_hooks(handlers: dict[str, Callable[..., Any]]) -> Iterator[None]:
    """Register ``handlers`` (botocore event name -> function) on every
    DynamoDB client created while inside, by PynamoDB and boto3 alike. The
    app's shared connections are dropped on the way in and out, so that its
    clients are made anew with the handlers, and without them afterwards."""
    from chalicelib import db
    from chalicelib.config import rebuild

    original = botocore.session.Session.create_client

    def create_client(session: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = original(session, service_name, *args, **kwargs)
        if service_name == "dynamodb":
            for event, handler in handlers.items():
                client.meta.events.register(event, handler)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    rebuild()
    db.bind_models()
    try:
        yield
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]
        rebuild()
        db.bind_models()


class Meter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        self.write_units = 0.0
        self.read_units = 0.0

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.items.clear()
            self.write_units = self.read_units = 0.0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": dict(self.requests), "items": dict(self.items),
                    "write_units": self.write_units, "read_units": self.read_units}

    def _on_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        # provide-client-params sees the API parameters (before-call sees the
        # serialized HTTP request, where items can no longer be counted).
        if model.name in _CAPACITY_OPS:
            # Asked of every call, the app's and the raw ones alike (the
            # ledger itself asks for none: it does not read it).
            params["ReturnConsumedCapacity"] = "TOTAL"
        with self._lock:
            self.requests[model.name] += 1
            self.items[model.name] += _items_of(model.name, params)

    def _on_response(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        if isinstance(consumed, dict):
            consumed = [consumed]
        write = model.name in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
        for entry in consumed:
            entry.setdefault("_write", write)
        w, r = _capacity_of(parsed)
        with self._lock:
            self.write_units += w
            self.read_units += r

    @contextmanager
    def installed(self) -> Iterator[Meter]:
        with dynamodb_hooks({"provide-client-params.dynamodb": self._on_call,
                             "after-call.dynamodb": self._on_response}):
            yield self
