"""Alerts for operators: stored, listed, acknowledged (audited), logged as
structured events, counted as metrics and appended to the audit chain.

``raise_alert(kind, key, details)`` is the one way to raise one: the alert's
id is a hash of ``kind`` and ``key`` (what it is about: a payout and a
status, a message's body, a reconciliation break), so that the same event
seen again (a duplicated or redelivered message) is the same alert, stored
once. Details carry ids and amounts only, never personal data.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib import limits, observability
from chalicelib.alerts.exceptions import AlertNotFoundError
from chalicelib.clock import iso_now
from chalicelib.lazy import lazy_module
from chalicelib.pagination import decode_cursor, encode_cursor
from chalicelib.validation import Enum, Obj, Opt, Params, Str, UrlInt

if TYPE_CHECKING:
    from pynamodb import exceptions as pynamodb_exceptions

    from chalicelib import audit, db
    from chalicelib.alerts import models
else:
    # The table and the audit chain, loaded when an alert is raised or read: the
    # routes' declarations read only the schemas below at import.
    pynamodb_exceptions = lazy_module("pynamodb.exceptions")
    audit = lazy_module("chalicelib.audit")
    db = lazy_module("chalicelib.db")
    models = lazy_module("chalicelib.alerts.models")

__all__ = ["KINDS", "STATUSES", "METRIC_NAMESPACE", "raise_alert", "list_alerts", "get_alert", "ack_alert",
           "ALERTS_QUERY", "ACK_BODY", "ALERT_ID_PATH", "AlertNotFoundError"]

KINDS = ("contradicting_status", "unknown_payout", "unparseable_message", "payout_timeout",
         "reconciliation_break", "ledger_imbalance",
         # The security review's: a registration point acting unusually often
         # for citizens it did not register; a shop naming another owner's tax ID.
         "registrar_point_unusual", "tax_id_of_another_owner",
         # An exclusion import that failed on every receive (its message is in the DLQ).
         "exclusions_import_failed")
STATUSES = ("open", "acknowledged")
METRIC_NAMESPACE = observability.NAMESPACE
ALERT_ID_HASH_CHARS = 24

logger = observability.component_logger()

ALERTS_QUERY = Params("query", {
    "status": Opt(Enum(*STATUSES)),
    "limit": Opt(UrlInt(1, limits.PAGE_SIZE_MAX), default=limits.PAGE_SIZE_DEFAULT),
    "cursor": Opt(Str(1, limits.CURSOR_CHARS_MAX, hint="the next_cursor of the page before")),
})
ACK_BODY = Obj({"reason": Str(1, limits.REASON_CHARS_MAX, strip=True)})
ALERT_ID_PATH = Params("path", {"alert_id": Str(1, limits.ALERT_ID_CHARS_MAX, limits.ALERT_ID_PATTERN,
                                                "an alert_id from GET /v1/admin/alerts")})


def _alert_id(kind: str, key: str) -> str:
    return "al_" + hashlib.sha256(f"{kind}\n{key}".encode()).hexdigest()[:ALERT_ID_HASH_CHARS]


def raise_alert(kind: str, key: str, details: Mapping[str, Any]) -> str:
    """Store (once), log and count an alert; returns its id."""
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    alert_id = _alert_id(kind, key)
    now = iso_now()
    item = models.AlertModel(alert_id, kind=kind, status="open", created_at=now, details=dict(details),
                             list_key=models.ALERT_LIST, list_sort=f"{now}#{alert_id}")
    try:
        item.save(condition=models.AlertModel.alert_id.does_not_exist())
    except pynamodb_exceptions.PutError as exc:
        if not db.condition_failed(exc):
            raise
        return alert_id  # seen before: one alert, logged and counted once
    logger.warning("alert raised", extra={"alert_id": alert_id, "alert_kind": kind, "details": dict(details)})
    # Every alert is also an event of the operators' audit chain.
    audit.audit(audit.system(), "alert", f"alert:{alert_id}", {"kind": kind, **db.plain(dict(details))})
    # Through observability.count, as every other metric: dimensions service and kind,
    # the ones the alarms and the dashboard watch (infra/observability.py).
    observability.count("Alerts", kind=kind)
    return alert_id


def _shown(item: models.AlertModel) -> dict[str, Any]:
    out: dict[str, Any] = {"alert_id": item.alert_id, "kind": item.kind, "status": item.status,
                           "created_at": item.created_at, "details": db.plain(item.details.as_dict())}  # type: ignore[no-untyped-call]  # PynamoDB
    if item.acknowledged_at:
        out.update(acknowledged_at=item.acknowledged_at, acknowledged_by=item.acknowledged_by,
                   ack_reason=item.ack_reason)
    return out


def list_alerts(status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    """Newest first, optionally only ``status``: ``{"items", "next_cursor"}``."""
    start = decode_cursor(cursor)
    condition = models.AlertModel.status == status if status else None
    items: list[dict[str, Any]] = []
    while True:
        query = models.AlertModel.list_index.query(models.ALERT_LIST, scan_index_forward=False,
                                                   limit=limit - len(items), last_evaluated_key=start,
                                                   filter_condition=condition)
        items.extend(_shown(i) for i in query)
        start = query.last_evaluated_key
        if not start or len(items) >= limit:
            break
    return {"items": items, "next_cursor": encode_cursor(start) if start else None}


def get_alert(alert_id: str) -> dict[str, Any]:
    try:
        return _shown(models.AlertModel.get(alert_id, consistent_read=True))
    except models.AlertModel.DoesNotExist as exc:
        raise AlertNotFoundError() from exc


def ack_alert(alert_id: str, reason: str, by: str) -> dict[str, Any]:
    """Acknowledge an open alert (again: the first acknowledgement stands)."""
    now = iso_now()
    try:
        models.AlertModel(alert_id).update(
            actions=[models.AlertModel.status.set("acknowledged"), models.AlertModel.acknowledged_at.set(now),
                     models.AlertModel.acknowledged_by.set(by), models.AlertModel.ack_reason.set(reason)],
            condition=models.AlertModel.alert_id.exists() & (models.AlertModel.status == "open"))
    except pynamodb_exceptions.UpdateError as exc:
        if not db.condition_failed(exc):
            raise
        return get_alert(alert_id)  # 404 when there is none; else acknowledged already
    return get_alert(alert_id)
