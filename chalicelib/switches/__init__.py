"""Pausing an operation (payments, withdrawals, registrations) nationwide, in
one district or at one bank, without a deploy (PROGRAM.md).

``check_switch`` is the first step of every paused-able use case. It reads one
item per operation, cached for a few seconds in the process, so that a pause
takes effect everywhere within ``SWITCH_CACHE_TTL_S`` and costs no read per
request.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import limits
from chalicelib.cache import TtlCache
from chalicelib.clock import iso_now
from chalicelib.config import runtime
from chalicelib.errors import PausedError
from chalicelib.lazy import lazy_module
from chalicelib.validation import Enum, Obj, Str, SwitchScope

if TYPE_CHECKING:
    from pynamodb import exceptions as pynamodb_exceptions

    from chalicelib import db
    from chalicelib.switches import models
else:
    # The table, loaded at the first check or change: the routes' declarations
    # read only SWITCH_BODY at import.
    pynamodb_exceptions = lazy_module("pynamodb.exceptions")
    db = lazy_module("chalicelib.db")
    models = lazy_module("chalicelib.switches.models")

__all__ = [
    "OPERATIONS",
    "SWITCH_CACHE_TTL_S",
    "PAUSED_RETRY_AFTER_S",
    "check_switch",
    "set_switch",
    "list_switches",
    "SWITCH_BODY",
]

OPERATIONS = ("payments", "withdrawals", "registrations")
STATES = ("on", "paused")
SWITCH_CACHE_TTL_S = 5.0
PAUSED_RETRY_AFTER_S = 60
# ``PUT /v1/admin/switches``: the spec that parses it and writes its schema.
SWITCH_BODY = Obj({
    "operation": Enum(*OPERATIONS), "state": Enum(*STATES),
    "scope": SwitchScope(),
    "reason": Str(1, limits.REASON_CHARS_MAX),
})

# Operations are three; a bound all the same.
SWITCH_CACHE_ENTRIES_MAX = 16


def _cache() -> TtlCache[dict[str, Any]]:
    return runtime().cache("switches", SWITCH_CACHE_TTL_S, SWITCH_CACHE_ENTRIES_MAX)


def _read_paused(operation: str) -> dict[str, Any]:
    try:
        return dict(models.SwitchModel.get(operation).paused.as_dict())  # type: ignore[no-untyped-call]  # PynamoDB: as_dict has no annotations
    except models.SwitchModel.DoesNotExist:
        return {}


def _paused(operation: str) -> dict[str, Any]:
    cache = _cache()
    found = cache.get(operation)
    if found is None:
        found = _read_paused(operation)
        cache.put(operation, found)
    return found


def check_switch(operation: str, *, district: str | None = None, bank: str | None = None) -> None:
    """Raise PausedError (503 paused) if ``operation`` is paused for all,
    for ``district`` or for ``bank``."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    paused = _paused(operation)
    if not paused:
        return
    for scope in ("all", f"district:{district}" if district else None, f"bank:{bank}" if bank else None):
        if scope and scope in paused:
            raise PausedError(f"{operation} are paused by the operator ({scope}); try again later.",
                              PAUSED_RETRY_AFTER_S, {"operation": operation, "scope": scope})


def set_switch(operation: str, state: str, scope: str, reason: str, by: str | None = None) -> dict[str, Any]:
    """Pause or resume ``operation`` in ``scope`` (one atomic map update);
    the arguments as SWITCH_BODY parsed them (checked again: a scope is a
    key of the stored map)."""
    SWITCH_BODY.parse({"operation": operation, "state": state, "scope": scope, "reason": reason}, "")
    now = iso_now()
    item = models.SwitchModel(operation)
    try:
        # The map must exist before a scope can be set inside it.
        models.SwitchModel(operation, paused={}, updated_at=now).save(
            condition=models.SwitchModel.operation.does_not_exist())
    except pynamodb_exceptions.PutError as exc:
        if not db.condition_failed(exc):
            raise
    if state == "paused":
        action = models.SwitchModel.paused[scope].set({"reason": reason, "updated_at": now, "by": by or ""})
    else:
        action = models.SwitchModel.paused[scope].remove()
    item.update(actions=[action, models.SwitchModel.updated_at.set(now)])
    # This container sees the change at once; others within SWITCH_CACHE_TTL_S.
    _cache().put(operation, _read_paused(operation))
    return {"operation": operation, "state": state, "scope": scope, "reason": reason}


def list_switches() -> list[dict[str, Any]]:
    out = []
    for item in models.SwitchModel.scan():
        for scope, info in sorted(item.paused.as_dict().items()):  # type: ignore[no-untyped-call]  # PynamoDB: as_dict has no annotations
            out.append({"operation": item.operation, "state": "paused", "scope": scope, **info})
    return out
