"""Pausing an operation (payments, withdrawals, registrations) nationwide, in
one district or at one bank, without a deploy (PROGRAM.md).

``check_switch`` is the first step of every paused-able use case. It reads one
item per operation, cached for a few seconds in the process, so that a pause
takes effect everywhere within ``SWITCH_CACHE_TTL_S`` and costs no read per
request.
"""
from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

from pynamodb.exceptions import PutError

from chalicelib import db
from chalicelib.clock import iso_now
from chalicelib.errors import InvalidRequestError, PausedError
from chalicelib.switches.models import SwitchModel

__all__ = [
    "OPERATIONS",
    "SWITCH_CACHE_TTL_S",
    "PAUSED_RETRY_AFTER_S",
    "check_switch",
    "set_switch",
    "list_switches",
    "parse_scope",
    "SCOPE_PATTERN",
    "forget_cached_switches",
]

OPERATIONS = ("payments", "withdrawals", "registrations")
SWITCH_CACHE_TTL_S = 5.0
PAUSED_RETRY_AFTER_S = 60
# One pattern for the check here and the request schema of PUT /v1/admin/switches.
SCOPE_PATTERN = r"(?:all|district:[1-9][0-9]{3}|bank:[0-9]{3})"
_SCOPE_RE = re.compile(f"^{SCOPE_PATTERN}$")

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def forget_cached_switches() -> None:
    with _lock:
        _cache.clear()


def parse_scope(scope: Any) -> str:
    if not isinstance(scope, str) or not _SCOPE_RE.match(scope):
        raise InvalidRequestError("scope", "scope must be 'all', 'district:<4 digits>' or 'bank:<3 digits>'")
    return scope


def _paused(operation: str, clock: Callable[[], float]) -> dict[str, Any]:
    now = clock()
    found = _cache.get(operation)
    if found is not None and found[0] > now:
        return found[1]
    try:
        paused = SwitchModel.get(operation).paused.as_dict()
    except SwitchModel.DoesNotExist:
        paused = {}
    with _lock:
        _cache[operation] = (now + SWITCH_CACHE_TTL_S, paused)
    return paused


def check_switch(operation: str, *, district: str | None = None, bank: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
    """Raise PausedError (503 paused) if ``operation`` is paused for all,
    for ``district`` or for ``bank``."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    paused = _paused(operation, clock)
    if not paused:
        return
    for scope in ("all", f"district:{district}" if district else None, f"bank:{bank}" if bank else None):
        if scope and scope in paused:
            raise PausedError(f"{operation} are paused by the operator ({scope}); try again later.",
                              PAUSED_RETRY_AFTER_S, {"operation": operation, "scope": scope})


def set_switch(operation: str, state: str, scope: str, reason: str, by: str | None = None) -> dict[str, Any]:
    """Pause or resume ``operation`` in ``scope`` (one atomic map update)."""
    if operation not in OPERATIONS:
        raise InvalidRequestError("operation", f"operation must be one of {', '.join(OPERATIONS)}")
    if state not in ("on", "paused"):
        raise InvalidRequestError("state", "state must be 'on' or 'paused'")
    scope = parse_scope(scope)
    now = iso_now()
    item = SwitchModel(operation)
    try:
        # The map must exist before a scope can be set inside it.
        SwitchModel(operation, paused={}, updated_at=now).save(condition=SwitchModel.operation.does_not_exist())
    except PutError as exc:
        if not db.condition_failed(exc):
            raise
    if state == "paused":
        action = SwitchModel.paused[scope].set({"reason": reason, "updated_at": now, "by": by or ""})
    else:
        action = SwitchModel.paused[scope].remove()
    item.update(actions=[action, SwitchModel.updated_at.set(now)])
    forget_cached_switches()
    return {"operation": operation, "state": state, "scope": scope, "reason": reason}


def list_switches() -> list[dict[str, Any]]:
    out = []
    for item in SwitchModel.scan():
        for scope, info in sorted(item.paused.as_dict().items()):
            out.append({"operation": item.operation, "state": "paused", "scope": scope, **info})
    return out
