"""The operators' audit log: append-only and tamper-evident.

Every event stores ``hash = sha256(prev_hash + canonical event)``, so
changing or removing an event breaks every hash after it (``verify``).
Events form one chain: an append reads the head and puts sequence number
head+1 with a conditional write; a concurrent append that lost retries on
the new head. Operator writes are rare, so one chain is enough. Events name
the principal's role and ``sub`` and the target, never personal data.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib import db
from chalicelib.audit.models import CHAIN, AuditModel
from chalicelib.clock import iso_now

__all__ = ["audit", "page", "verify", "GENESIS_HASH"]

GENESIS_HASH = "0" * 64
APPEND_ATTEMPTS = 20
SEQ_DIGITS = 12


def _event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}{canonical}".encode()).hexdigest()


def _head() -> AuditModel | None:
    for item in AuditModel.query(CHAIN, scan_index_forward=False, limit=1, consistent_read=True):
        return item
    return None


def audit(principal: Any, action: str, target: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Append one event; returns it (with seq and hash)."""
    for _attempt in range(APPEND_ATTEMPTS):
        head = _head()
        seq = 1 if head is None else int(head.seq) + 1
        prev_hash = GENESIS_HASH if head is None else head.hash
        event = {"seq": seq, "at": iso_now(), "actor": f"{principal.role}:{principal.sub}",
                 "action": action, "target": target, "details": dict(details or {})}
        digest = _event_hash(prev_hash, event)
        item = AuditModel(CHAIN, f"{seq:0{SEQ_DIGITS}d}", seq=seq, event_json=json.dumps(event, sort_keys=True),
                          prev_hash=prev_hash, hash=digest)
        try:
            item.save(AuditModel.sort.does_not_exist())
        except PutError as exc:
            if db.condition_failed(exc):
                continue
            raise
        return {**event, "prev_hash": prev_hash, "hash": digest}
    raise RuntimeError("audit log head kept moving")


def _shown(item: AuditModel) -> dict[str, Any]:
    return {**json.loads(item.event_json), "prev_hash": item.prev_hash, "hash": item.hash}


def page(limit: int, cursor: str | None) -> dict[str, Any]:
    """Newest first: ``{"items", "next_cursor"}``."""
    start = None
    if cursor:
        start = {"chain": {"S": CHAIN}, "sort": {"S": base64.urlsafe_b64decode(cursor.encode()).decode()}}
    query = AuditModel.query(CHAIN, scan_index_forward=False, limit=limit, last_evaluated_key=start,
                             consistent_read=True)
    items = [_shown(i) for i in query]
    last = query.last_evaluated_key
    next_cursor = base64.urlsafe_b64encode(last["sort"]["S"].encode()).decode() if last and items else None
    return {"items": items, "next_cursor": next_cursor}


def verify() -> bool:
    """Recompute the chain from the first event."""
    prev = GENESIS_HASH
    for item in AuditModel.query(CHAIN, scan_index_forward=True, consistent_read=True):
        event = json.loads(item.event_json)
        if item.prev_hash != prev or _event_hash(prev, event) != item.hash:
            return False
        prev = item.hash
    return True
