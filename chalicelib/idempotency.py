"""Idempotency-Key: one mechanism for every money-moving POST.

- ``parse_idempotency_key(headers)``: the key, or 400 naming ``Idempotency-Key``.
- ``scoped_id(prefix, principal, key)``: the key scoped to the caller, as a
  hash (no personal data): the transfer id of a ledger-backed endpoint, whose
  transfer record (put with attribute_not_exists, carrying ``fingerprint``
  and ``details``) is then the idempotency record (ARCHITECTURE.md).
- ``fingerprint(method, path, body)``: sha256 of the canonical request.
- ``run_idempotent(principal, key, fingerprint, fn)`` for endpoints that do
  not post one ledger transfer: a table record per caller and key.

Concurrent first calls with one key: the first puts an "in progress" marker
with a conditional write and runs; a second call that finds the marker is
answered ``409 idempotency_conflict`` at once ("in progress, retry") rather
than waiting: the client retries with the same key and then gets the replay.
A marker left by a crashed call expires after ``IN_PROGRESS_TIMEOUT_S``.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from chalicelib.db import register
from chalicelib.errors import IdempotencyConflictError, InvalidRequestError

__all__ = [
    "HEADER", "REPLAY_HEADER", "KEY_PATTERN", "KEEP_S", "IN_PROGRESS_TIMEOUT_S",
    "StoredResponse", "IdempotencyModel", "parse_idempotency_key", "scoped_id", "fingerprint",
    "run_idempotent", "replay_headers",
]

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
KEEP_S = 8 * 24 * 3600  # API.md: at least 7 days; a day of margin
# Longer than any request may run (API Gateway stops at 29 s).
IN_PROGRESS_TIMEOUT_S = 60
# Never in a fingerprint: a 6-digit PIN hashed with the rest of a request
# could be found again by trying every PIN.
SECRET_FIELDS = frozenset({"pin"})
_IN_PROGRESS = "in_progress"
_DONE = "done"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any

    def to_json(self) -> str:
        return json.dumps({"status": self.status, "body": self.body}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "StoredResponse":
        data = json.loads(text)
        return cls(int(data["status"]), data["body"])


def replay_headers(replayed: bool) -> dict[str, str]:
    return {REPLAY_HEADER: "true"} if replayed else {}


def parse_idempotency_key(headers: Mapping[str, str]) -> str:
    key = None
    for name, value in (headers or {}).items():
        if name.lower() == HEADER.lower():
            key = value
            break
    if key is None:
        raise InvalidRequestError(HEADER, "This request moves money: send an Idempotency-Key header "
                                          "(1 to 64 of A-Z a-z 0-9 _ -), the same one when you retry.")
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidRequestError(HEADER, "Idempotency-Key must be 1 to 64 of A-Z a-z 0-9 _ -.")
    return key


def _scope(principal: Any) -> str:
    return f"{principal.role}:{principal.sub}"


def scoped_id(prefix: str, principal: Any, key: str) -> str:
    """``<prefix>_<hash of role, sub and key>``: the same key of two callers never meets."""
    digest = hashlib.sha256(f"{_scope(principal)}\n{key}".encode()).hexdigest()[:32]
    return f"{prefix}_{digest}"


def fingerprint(method: str, path: str, body: Any) -> str:
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in SECRET_FIELDS}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


@register
class IdempotencyModel(Model):
    """One record per caller and key of a non-ledger endpoint."""

    class Meta:
        short_name = "idempotency"

    record_id = UnicodeAttribute(hash_key=True)
    fingerprint = UnicodeAttribute()
    state = UnicodeAttribute()
    response = UnicodeAttribute(null=True)
    started_at_s = NumberAttribute()
    # DynamoDB TTL (stored as epoch seconds): kept for KEEP_S, then deleted.
    expires_at = TTLAttribute()


def run_idempotent(principal: Any, key: str, request_fingerprint: str,
                   fn: Callable[[], StoredResponse], clock: Callable[[], float] = time.time
                   ) -> tuple[StoredResponse, bool]:
    """Run ``fn`` once per caller and key; ``(response, replayed)``.
    Errors raised by ``fn`` are not stored: the marker is removed, and a
    retry runs again (an error moved nothing)."""
    record_id = scoped_id("idem", principal, key)
    now = clock()
    marker = IdempotencyModel(record_id, fingerprint=request_fingerprint, state=_IN_PROGRESS,
                              started_at_s=int(now),
                              expires_at=datetime.fromtimestamp(int(now) + KEEP_S, tz=timezone.utc))
    stale = IdempotencyModel.started_at_s < int(now) - IN_PROGRESS_TIMEOUT_S
    try:
        marker.save(IdempotencyModel.record_id.does_not_exist()
                    | ((IdempotencyModel.state == _IN_PROGRESS) & stale
                       & (IdempotencyModel.fingerprint == request_fingerprint)))
    except PutError as exc:
        if "ConditionalCheckFailed" not in str(exc.cause_response_code or exc):
            raise
        found = IdempotencyModel.get(record_id, consistent_read=True)
        if found.fingerprint != request_fingerprint:
            raise IdempotencyConflictError(
                "This Idempotency-Key was used for another request; use a new key for a new request.",
                {"field": HEADER}) from None
        if found.state != _DONE or found.response is None:
            raise IdempotencyConflictError(
                "A request with this Idempotency-Key is still in progress; retry in a moment.",
                {"field": HEADER, "in_progress": True}) from None
        return StoredResponse.from_json(found.response), True
    try:
        response = fn()
    except Exception:
        marker.delete(IdempotencyModel.state == _IN_PROGRESS)
        raise
    marker.update(actions=[IdempotencyModel.state.set(_DONE),
                           IdempotencyModel.response.set(response.to_json())])
    return response, False
