"""The audit trail: append-only and tamper-evident.

Every event stores ``hash = sha256(prev_hash + canonical event)``, so
changing or removing an event breaks every hash after it (``verify``).
Events form chains: the operators' chain (operator and merchant-review
actions, switches, phase changes, alerts) and one chain per registration
point (``point_chain``), so that thousands of points writing at once do not
all contend for one head. An append reads its chain's head and puts
sequence number head+1 with a conditional write; a concurrent append that
lost retries on the new head. Events name the principal's role and ``sub``
and the target, never personal data.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib import db
from chalicelib.audit.models import CHAIN, AuditModel
from chalicelib.clock import iso_now
from chalicelib.errors import InvalidRequestError

__all__ = ["audit", "page", "verify", "verify_events", "point_chain", "system", "GENESIS_HASH", "CHAIN",
           "event_hash"]

GENESIS_HASH = "0" * 64
APPEND_ATTEMPTS = 20
SEQ_DIGITS = 12
POINT_CHAIN_PREFIX = "point:"


class _System:
    """The actor of events the backend raises itself (alerts)."""

    role = "system"
    sub = "wallet"


def system() -> Any:
    return _System()


def point_chain(point_id: str) -> str:
    """The chain of one registration point's assisted actions."""
    return f"{POINT_CHAIN_PREFIX}{point_id}"


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}{canonical}".encode()).hexdigest()


def _head(chain: str) -> AuditModel | None:
    for item in AuditModel.query(chain, scan_index_forward=False, limit=1, consistent_read=True):
        return item
    return None


def audit(principal: Any, action: str, target: str, details: Mapping[str, Any] | None = None,
          chain: str = CHAIN) -> dict[str, Any]:
    """Append one event to ``chain``; returns it (with seq and hash)."""
    for _attempt in range(APPEND_ATTEMPTS):
        head = _head(chain)
        seq = 1 if head is None else int(head.seq) + 1
        prev_hash = GENESIS_HASH if head is None else head.hash
        event = {"seq": seq, "at": iso_now(), "actor": f"{principal.role}:{principal.sub}",
                 "action": action, "target": target, "details": dict(details or {})}
        if chain != CHAIN:
            event["chain"] = chain
        digest = event_hash(prev_hash, event)
        item = AuditModel(chain, f"{seq:0{SEQ_DIGITS}d}", seq=seq, event_json=json.dumps(event, sort_keys=True),
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
    return {**json.loads(item.event_json), "event_id": _event_id(item), "prev_hash": item.prev_hash,
            "hash": item.hash}


def _event_id(item: AuditModel) -> str:
    return f"{item.chain}/{item.sort}"


def _cursor_sort(cursor: str) -> str:
    try:
        sort = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidRequestError("cursor", "cursor is not one this API gave; start without it.") from exc
    if len(sort) != SEQ_DIGITS or not sort.isdigit():
        raise InvalidRequestError("cursor", "cursor is not one this API gave; start without it.")
    return sort


def page(limit: int, cursor: str | None, chain: str = CHAIN) -> dict[str, Any]:
    """Newest first: ``{"items", "next_cursor"}``."""
    start = None
    if cursor:
        start = {"chain": {"S": chain}, "sort": {"S": _cursor_sort(cursor)}}
    query = AuditModel.query(chain, scan_index_forward=False, limit=limit, last_evaluated_key=start,
                             consistent_read=True)
    items = [_shown(i) for i in query]
    last = query.last_evaluated_key
    next_cursor = base64.urlsafe_b64encode(last["sort"]["S"].encode()).decode() if last and items else None
    return {"items": items, "next_cursor": next_cursor}


def _stored_events() -> Iterator[dict[str, Any]]:
    """Every stored event as a plain dict (chain, sort, seq, event_json, prev_hash, hash)."""
    for item in AuditModel.scan(consistent_read=True):
        yield {"chain": item.chain, "sort": item.sort, "seq": item.seq, "event_json": item.event_json,
               "prev_hash": item.prev_hash, "hash": item.hash}


def verify_events(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Recompute every chain of ``events`` (stored events as dicts, in any
    order): ``{"ok", "events_checked", "first_broken": {"event_id", "reason"} | null}``.
    Pure: the API and the offline devstack command share it."""
    chains: dict[str, list[Mapping[str, Any]]] = {}
    for stored in events:
        chains.setdefault(str(stored["chain"]), []).append(stored)
    checked = 0
    for chain in sorted(chains):
        prev = GENESIS_HASH
        for expected_seq, stored in enumerate(sorted(chains[chain], key=lambda e: str(e["sort"])), start=1):
            checked += 1
            broken = _broken(stored, prev, expected_seq)
            if broken is not None:
                return {"ok": False, "events_checked": checked,
                        "first_broken": {"event_id": f"{chain}/{stored['sort']}", "reason": broken}}
            prev = str(stored["hash"])
    return {"ok": True, "events_checked": checked, "first_broken": None}


def _broken(stored: Mapping[str, Any], prev: str, expected_seq: int) -> str | None:
    try:
        event = json.loads(str(stored["event_json"]))
    except ValueError:
        return "the stored event is not JSON"
    if not isinstance(event, dict) or event.get("seq") != expected_seq or int(stored["seq"]) != expected_seq:
        return f"sequence number is not {expected_seq}: an event was removed or inserted"
    if stored["prev_hash"] != prev:
        return "prev_hash is not the hash of the event before"
    if event_hash(prev, event) != stored["hash"]:
        return "hash does not match the event: the event was altered"
    return None


def verify() -> dict[str, Any]:
    """Recompute every chain from the first event (``GET /v1/admin/audit/verify``)."""
    return verify_events(_stored_events())
