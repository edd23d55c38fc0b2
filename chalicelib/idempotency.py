"""Idempotency-Key: one mechanism for every money-moving POST.

- ``parse_idempotency_key(headers)``: the key, or 400 naming ``Idempotency-Key``.
- ``scoped_id(prefix, principal, key)``: the key scoped to the caller, as a
  hash (no personal data): the transfer id of a ledger-backed endpoint, whose
  transfer record (put with attribute_not_exists, carrying ``fingerprint``
  and ``details``) is then the idempotency record (ARCHITECTURE.md). A
  concurrent first call with the same key finds the record's condition
  failed and replays the record; nothing is stored besides the transfer.
- ``fingerprint(method, path, body)``: sha256 of the canonical request.
- ``replay_headers(replayed)``: ``Idempotent-Replayed: true`` on a replay.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.errors import InvalidRequestError

__all__ = [
    "HEADER", "REPLAY_HEADER", "KEY_PATTERN", "parse_idempotency_key", "scoped_id", "fingerprint",
    "replay_headers",
]

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Never in a fingerprint: a 6-digit PIN hashed with the rest of a request
# could be found again by trying every PIN.
SECRET_FIELDS = frozenset({"pin"})


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
